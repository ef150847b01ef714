import { HASH_KEY_BINS, TrafficWindows, hashKeyBin, type TrafficSink } from '@shoal/autoscaler';
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
  /** The shards this worker reads now: each is marked measured in the window even when it saw nothing. */
  readonly ownedShards: () => readonly { readonly streamName: string; readonly shardId: string }[];
  readonly logger: Logger;
}

/** One record in this many has its hash key counted (times this many). */
const BIN_SAMPLE = 8;

/**
 * Counts what this worker's shards read into per-shard, per-minute windows (by each record's
 * arrival minute, and by hash key within the shard's range, so the autoscaler can split a hot
 * shard where its traffic divides) and writes them to the sink every `flushIntervalMs`, one call
 * for all. What a write fails to keep is dropped: the windows are a measure, not a record.
 */
export class TrafficRecorder implements WorkerObserver {
  private readonly windows: TrafficWindows;
  private readonly timer: NodeJS.Timeout;
  /** Shard ranges looked up since the last flush (a range never changes; the cache is only kept small). */
  private ranges = new Map<string, { start: bigint; end: bigint } | undefined>();

  constructor(private readonly options: TrafficRecorderOptions) {
    this.windows = new TrafficWindows(options.sink, options.application, options.logger);
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
    // A shard read and quiet is measured at zero, not missing: the autoscaler may scale it down.
    const now = Date.now();
    for (const { streamName, shardId } of this.options.ownedShards()) this.windows.at(streamName, shardId, now);
    this.ranges = new Map();
    return this.windows.flush();
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private count(streamName: string, shardId: string, records: readonly KinesisRecord[]): void {
    const range = this.rangeOf(streamName, shardId);
    let lastAggregate: KinesisRecord['aggregate'];
    for (const record of records) {
      // Kinesis counts an aggregate as one record of its own size, whatever it holds.
      if (record.aggregate !== undefined && record.aggregate === lastAggregate) continue;
      lastAggregate = record.aggregate;
      const window = this.windows.at(streamName, shardId, record.approximateArrivalTimestamp.getTime());
      const partitionKey = record.aggregate?.partitionKey ?? record.partitionKey;
      const bytes = (record.aggregate?.data ?? record.data).byteLength + Buffer.byteLength(partitionKey);
      // What this application read, it read: its incoming and outgoing are the same records.
      window.incomingBytes += bytes;
      window.outgoingBytes += bytes;
      window.incomingRecords += 1;
      window.outgoingRecords += 1;
      // Hash keys are counted for a random one record in BIN_SAMPLE (an MD5 and a BigInt division
      // each): the median stays, the cost drops. Random, not every n-th, so no key pattern aliases it.
      if (!range || Math.random() * BIN_SAMPLE >= 1) continue;
      const hashKey = hashKeyOrUndefined(record.aggregate ? { partitionKey } : record);
      if (hashKey === undefined) continue;
      window.bins ??= new Array<number>(HASH_KEY_BINS).fill(0);
      window.bins[hashKeyBin(hashKey, range.start, range.end)]! += BIN_SAMPLE;
    }
  }

  private rangeOf(streamName: string, shardId: string): { start: bigint; end: bigint } | undefined {
    const rangeKey = `${streamName}|${shardId}`;
    if (!this.ranges.has(rangeKey)) {
      const range = this.options.rangeOf(streamName, shardId);
      this.ranges.set(rangeKey, range && { start: parseHashKey(range.startingHashKey), end: parseHashKey(range.endingHashKey) });
    }
    return this.ranges.get(rangeKey);
  }
}

/** A record's hash key; undefined for a key Kinesis would not have taken (a KPL user record is never checked by Kinesis). */
function hashKeyOrUndefined(record: { readonly partitionKey: string; readonly explicitHashKey?: string | undefined }): bigint | undefined {
  try {
    return hashKeyForRecord(record);
  } catch {
    return undefined;
  }
}
