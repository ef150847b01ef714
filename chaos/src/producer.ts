import { setTimeout as sleep } from 'node:timers/promises';
import { PutRecordsCommand, type KinesisClient, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { encodePayload } from './record-payload.js';
import type { SharedLog } from './shared-log.js';

export interface ChaosProducerOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly log: SharedLog;
  /** Records per second over the whole stream. Default 150. */
  readonly recordsPerSecond?: number;
  /** Distinct partition keys. Default 256. */
  readonly keyCount?: number;
  /** One PutRecords call per tick. Default 100 ms. */
  readonly tickMs?: number;
}

/** Pause before resending entries PutRecords rejected or a call that failed. */
const RETRY_PAUSE_MS = 100;

/**
 * Steady load with per-key sequence numbers: every tick, one PutRecords call with the next keys
 * in round-robin order, each record `{ key, n }` with n = 1, 2, 3… per key. A call never holds
 * two records of one key, and a key's rejected entry is resent before the key gets its next
 * record, so each key's records enter the stream in the order of n. Every call that returned is
 * logged with the shard of each record. Falls behind rather than bursting when calls are slow.
 */
export class ChaosProducer {
  private stopping = false;
  private written = 0;
  private readonly done: Promise<void>;

  constructor(private readonly options: ChaosProducerOptions) {
    this.done = this.run();
    // Surfaced by stop(); not an unhandled rejection meanwhile.
    this.done.catch(() => undefined);
  }

  get recordsWritten(): number {
    return this.written;
  }

  /** Stops after the call in flight (and its resends); resolves with the number of records written. */
  async stop(): Promise<number> {
    this.stopping = true;
    await this.done;
    this.options.log.write({ t: 'produce-stop', at: Date.now() });
    return this.written;
  }

  private async run(): Promise<void> {
    const { kinesis, streamName, log } = this.options;
    const tickMs = this.options.tickMs ?? 100;
    const keyCount = this.options.keyCount ?? 256;
    const perTick = Math.max(1, Math.min(keyCount, 500, Math.round(((this.options.recordsPerSecond ?? 150) * tickMs) / 1000)));
    const next = new Map<string, number>();
    let keyIndex = 0;
    const started = Date.now();
    for (let tick = 0; !this.stopping; tick += 1) {
      let pending = Array.from({ length: perTick }, () => {
        const key = `key-${keyIndex++ % keyCount}`;
        const n = (next.get(key) ?? 0) + 1;
        next.set(key, n);
        return { key, n };
      });
      // Bounded by stop(): once stopping, entries still pending after a failed call are given up
      // (never logged, so never expected), but only after their key's order is no longer at stake.
      while (pending.length > 0) {
        let results: PutRecordsResultEntry[];
        try {
          ({ Records: results = [] } = await kinesis.send(
            new PutRecordsCommand({
              StreamName: streamName,
              Records: pending.map((entry) => ({ PartitionKey: entry.key, Data: encodePayload(entry) })),
            }),
          ));
        } catch {
          // The outcome is unknown; resending may store a record twice (seen as a duplicate), never out of order.
          if (this.stopping) return;
          await sleep(RETRY_PAUSE_MS);
          continue;
        }
        const accepted: [string, number, string][] = [];
        const rejected: typeof pending = [];
        pending.forEach((entry, index) => {
          const result = results[index];
          if (result?.ShardId && result.ErrorCode === undefined) accepted.push([entry.key, entry.n, result.ShardId]);
          else rejected.push(entry);
        });
        if (accepted.length > 0) log.write({ t: 'put', at: Date.now(), records: accepted });
        this.written += accepted.length;
        pending = rejected;
        if (pending.length > 0) {
          if (this.stopping) return;
          await sleep(RETRY_PAUSE_MS);
        }
      }
      const wait = started + (tick + 1) * tickMs - Date.now();
      if (wait > 0) await sleep(wait);
    }
  }
}
