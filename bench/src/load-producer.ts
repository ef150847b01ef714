import { setTimeout as sleep } from 'node:timers/promises';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { LocalStack, RecordLedger } from '@shoal/local-stack';

export interface LoadProducerOptions {
  readonly recordsPerSecond: number;
  /** One PutRecords call per tick. Default 100 ms. */
  readonly tickMs?: number;
  /**
   * Partition keys, used round-robin across ticks. Default 1024: with MD5 hashing, every shard
   * of a 64-shard stream gets some (a shard without a key would never see a record).
   */
  readonly keyCount?: number;
  /** Prefix of the record ids, unique per producer. */
  readonly idPrefix: string;
}

/**
 * Produces records at a steady rate until stopped: one PutRecords call every `tickMs` with
 * `recordsPerSecond * tickMs / 1000` small JSON records `{ id, key, putAt }` (the payload
 * `parseRecordId` reads, and the epoch milliseconds of the first attempt to put it), each
 * registered in the ledger once written. Entries the emulator
 * rejects are resent. Falls behind rather than bursting when a call is slow.
 */
export class LoadProducer {
  private stopping = false;
  private readonly done: Promise<void>;
  private written = 0;

  constructor(stack: LocalStack, streamName: string, ledger: RecordLedger, options: LoadProducerOptions) {
    const tickMs = options.tickMs ?? 100;
    const keyCount = options.keyCount ?? 1_024;
    const perTick = Math.max(1, Math.min(500, Math.round((options.recordsPerSecond * tickMs) / 1000)));
    this.done = (async () => {
      const started = Date.now();
      let next = 0;
      for (let tick = 0; !this.stopping; tick += 1) {
        let pending = Array.from({ length: perTick }, () => {
          const index = next++;
          const id = `${options.idPrefix}-${index}`;
          const key = `key-${index % keyCount}`;
          return { id, key, data: Buffer.from(JSON.stringify({ id, key, putAt: Date.now() })) };
        });
        while (pending.length > 0) {
          const { Records = [] } = await stack.kinesis.send(
            new PutRecordsCommand({
              StreamName: streamName,
              Records: pending.map((entry) => ({ PartitionKey: entry.key, Data: entry.data })),
            }),
          );
          const failed = pending.filter((_, index) => Records[index]?.ErrorCode !== undefined);
          for (const entry of pending) if (!failed.includes(entry)) ledger.recordProduced(entry.id, entry.key);
          this.written += pending.length - failed.length;
          pending = failed;
        }
        const wait = started + (tick + 1) * tickMs - Date.now();
        if (wait > 0) await sleep(wait);
      }
    })();
    // Surfaced by stop(); not an unhandled rejection meanwhile.
    this.done.catch(() => undefined);
  }

  get recordsWritten(): number {
    return this.written;
  }

  /** Stops after the call in flight; resolves with the number of records written. */
  async stop(): Promise<number> {
    this.stopping = true;
    await this.done;
    return this.written;
  }
}
