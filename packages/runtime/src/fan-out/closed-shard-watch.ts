import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, type Logger } from '@shoal/coordinator';
import type { Clock } from '../clock.js';
import { untilAborted } from './abortable.js';

export interface ClosedShardWatchOptions {
  readonly kinesis: KinesisClient;
  /** A stream's shard list is listed again once it is this old. */
  readonly intervalMs: number;
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** Streams whose listing is kept at most. */
const MAX_STREAMS = 256;

interface Listing {
  readonly at: number;
  readonly closed: Promise<ReadonlySet<string>>;
}

/**
 * Which shards the stream's shard list shows closed (an ending sequence number), listed at most
 * once per `intervalMs` per stream however many of the worker's shards ask: the cost of asking is
 * one ListShards a stream per interval for the whole worker, not one per shard.
 */
export class ClosedShardWatch {
  private readonly listings = new Map<string, Listing>();

  constructor(private readonly options: ClosedShardWatchOptions) {}

  /**
   * Whether the shard was closed when its stream was last listed; false when the listing failed.
   * `signal` stops this caller's wait, not the listing the worker's other shards share.
   */
  async isClosed(streamName: string, shardId: string, signal?: AbortSignal): Promise<boolean> {
    return (await untilAborted(this.closedShards(streamName), signal)).has(shardId);
  }

  private closedShards(streamName: string): Promise<ReadonlySet<string>> {
    const { clock, intervalMs } = this.options;
    const now = clock.monotonic();
    const listing = this.listings.get(streamName);
    if (listing && now - listing.at < intervalMs) return listing.closed;
    // Listings of streams no shard asked about for a while (a pattern's streams come and go) go,
    // and the oldest beyond the most kept.
    for (const [name, old] of this.listings) if (now - old.at > 10 * intervalMs) this.listings.delete(name);
    if (this.listings.size >= MAX_STREAMS) {
      const byAge = [...this.listings].sort(([, a], [, b]) => a.at - b.at);
      for (const [name] of byAge.slice(0, this.listings.size - MAX_STREAMS + 1)) this.listings.delete(name);
    }
    const closed = this.list(streamName);
    this.listings.set(streamName, { at: now, closed });
    return closed;
  }

  private async list(streamName: string): Promise<ReadonlySet<string>> {
    const { kinesis, requestTimeoutMs, logger } = this.options;
    try {
      const shards = await listShards(kinesis, streamName, { requestTimeoutMs });
      return new Set(shards.filter((shard) => shard.endingSequenceNumber !== undefined).map((shard) => shard.shardId));
    } catch (error) {
      logger.debug({ streamName, err: error }, 'could not list the stream’s shards to look for closed ones');
      return new Set();
    }
  }
}
