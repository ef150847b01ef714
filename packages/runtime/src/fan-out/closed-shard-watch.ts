import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, type Logger } from '@shoal/coordinator';
import type { Clock } from '../clock.js';

export interface ClosedShardWatchOptions {
  readonly kinesis: KinesisClient;
  /** A stream's shard list is listed again once it is this old. */
  readonly intervalMs: number;
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

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

  /** Whether the shard was closed when its stream was last listed; false when the listing failed. */
  async isClosed(streamName: string, shardId: string): Promise<boolean> {
    return (await this.closedShards(streamName)).has(shardId);
  }

  private closedShards(streamName: string): Promise<ReadonlySet<string>> {
    const { clock, intervalMs } = this.options;
    const now = clock.monotonic();
    const listing = this.listings.get(streamName);
    if (listing && now - listing.at < intervalMs) return listing.closed;
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
