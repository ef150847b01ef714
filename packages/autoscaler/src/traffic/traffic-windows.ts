import type { Logger } from '@shoal/coordinator';
import type { ShardTrafficSample, TrafficSink } from './redis-traffic-store.js';
import { minuteOf } from './shard-traffic.js';

/** One shard's counts in one window, as they grow until written. */
export interface WindowCounts {
  incomingBytes: number;
  incomingRecords: number;
  outgoingBytes: number;
  outgoingRecords: number;
  throttledPuts: number;
  /** Records by hash key bin; undefined while none was counted. */
  bins: number[] | undefined;
}

/**
 * Traffic counted in memory per stream, shard and window (the sink's), and written to the sink
 * by `flush()`, one call a stream, under one name (an application, a producer). A write that
 * fails is dropped: the windows are a measure, not a record. Shared by the workers' and the
 * producers' recorders.
 */
export class TrafficWindows {
  /** stream → shard|window → counts. */
  private pending = new Map<string, Map<string, WindowCounts>>();
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly sink: TrafficSink,
    private readonly source: string,
    private readonly logger?: Logger,
  ) {}

  /** The counts of the shard's window holding `at` (epoch ms), created at zero: a window written at zero is measured. */
  at(streamName: string, shardId: string, at: number): WindowCounts {
    const windows = this.pending.get(streamName) ?? new Map<string, WindowCounts>();
    this.pending.set(streamName, windows);
    const key = `${shardId}|${minuteOf(at, this.sink.windowMs)}`;
    let counts = windows.get(key);
    if (!counts) {
      counts = { incomingBytes: 0, incomingRecords: 0, outgoingBytes: 0, outgoingRecords: 0, throttledPuts: 0, bins: undefined };
      windows.set(key, counts);
    }
    return counts;
  }

  /** Writes what was counted; resolves once written (or dropped after a failure). */
  flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.flushing.then(async () => {
      for (const [streamName, windows] of batch) {
        const samples: ShardTrafficSample[] = [...windows].map(([key, { bins, ...counts }]) => {
          const [shardId, minute] = key.split('|');
          return { shardId: shardId!, minute: Number(minute), ...counts, hashKeyBins: bins ?? [] };
        });
        try {
          await this.sink.add(streamName, this.source, samples);
        } catch (error) {
          this.logger?.debug({ err: error, streamName }, 'could not write the traffic windows; dropped');
        }
      }
    });
    return this.flushing;
  }
}
