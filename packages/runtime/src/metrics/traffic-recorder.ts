import { HASH_KEY_BINS, hashKeyBin, minuteOf, type ShardTrafficSample, type TrafficSink } from '@shoal/autoscaler';
import type { Logger } from '@shoal/coordinator';
import { hashKeyForRecord, parseHashKey, type KinesisRecord } from '@shoal/processor-sdk';
import type { ShardObserver, WorkerObserver } from './worker-observer.js';

export interface TrafficRecorderOptions {
  readonly sink: TrafficSink;
  readonly application: string;
  /** The hash key range of a shard this worker reads (from its lease); undefined when not known. */
  readonly rangeOf: (streamName: string, shardId: string) => { startingHashKey: string; endingHashKey: string } | undefined;
  /** How often the windows are written. Default 10000 ms. */
  readonly flushIntervalMs?: number;
  readonly logger: Logger;
}

interface Window {
  incomingBytes: number;
  incomingRecords: number;
  bins: number[] | undefined;
}

/**
 * Counts what this worker's shards read into per-shard, per-minute windows (by each record's
 * arrival minute, and by hash key within the shard's range, so the autoscaler can split a hot
 * shard where its traffic divides) and writes them to the sink every `flushIntervalMs`, one call
 * for all. What a write fails to keep is dropped: the windows are a measure, not a record.
 */
export class TrafficRecorder implements WorkerObserver {
  /** stream → shard|minute → window. */
  private pending = new Map<string, Map<string, Window>>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  /** Shard ranges looked up since the last flush (a range never changes; the cache is only kept small). */
  private ranges = new Map<string, { start: bigint; end: bigint } | undefined>();

  constructor(private readonly options: TrafficRecorderOptions) {
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 10_000);
    this.timer.unref();
  }

  shard(streamName: string, shardId: string): ShardObserver {
    return {
      batchProcessed: () => {},
      processorFailed: () => {},
      checkpoint: () => {},
      getRecords: () => {},
      recordsProcessed: (records) => this.count(streamName, shardId, records),
    };
  }

  leaseTransition(): void {}

  /** Writes what was counted; resolves once written (or dropped after a failure). */
  flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.ranges = new Map();
    this.flushing = this.flushing.then(async () => {
      for (const [streamName, windows] of batch) {
        const samples: ShardTrafficSample[] = [...windows].map(([key, window]) => {
          const [shardId, minute] = key.split('|');
          return {
            shardId: shardId!,
            minute: Number(minute),
            incomingBytes: window.incomingBytes,
            incomingRecords: window.incomingRecords,
            outgoingBytes: window.incomingBytes,
            outgoingRecords: window.incomingRecords,
            throttledPuts: 0,
            hashKeyBins: window.bins ?? [],
          };
        });
        try {
          await this.options.sink.add(streamName, this.options.application, samples);
        } catch (error) {
          this.options.logger.debug({ err: error, streamName }, 'could not write the traffic windows; dropped');
        }
      }
    });
    return this.flushing;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private count(streamName: string, shardId: string, records: readonly KinesisRecord[]): void {
    const rangeKey = `${streamName}|${shardId}`;
    if (!this.ranges.has(rangeKey)) {
      const range = this.options.rangeOf(streamName, shardId);
      this.ranges.set(rangeKey, range && { start: parseHashKey(range.startingHashKey), end: parseHashKey(range.endingHashKey) });
    }
    const range = this.ranges.get(rangeKey);
    const start = range?.start;
    const end = range?.end;
    const windows = this.pending.get(streamName) ?? new Map<string, Window>();
    this.pending.set(streamName, windows);
    for (const record of records) {
      const key = `${shardId}|${minuteOf(record.approximateArrivalTimestamp.getTime(), this.options.sink.windowMs)}`;
      let window = windows.get(key);
      if (!window) {
        window = { incomingBytes: 0, incomingRecords: 0, bins: start === undefined ? undefined : new Array<number>(HASH_KEY_BINS).fill(0) };
        windows.set(key, window);
      }
      window.incomingBytes += record.data.byteLength + Buffer.byteLength(record.partitionKey);
      window.incomingRecords += 1;
      if (window.bins && start !== undefined && end !== undefined) window.bins[hashKeyBin(hashKeyForRecord(record), start, end)]! += 1;
    }
  }
}
