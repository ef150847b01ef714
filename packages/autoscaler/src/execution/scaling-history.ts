import type { Redis } from 'ioredis';

/** One change the autoscaler made (or, in a dry run, would have made). */
export interface ScalingEvent {
  /** Epoch ms. */
  readonly at: number;
  readonly streamName: string;
  readonly kind: 'update-shard-count' | 'split' | 'merge';
  /** UpdateShardCount: the open count before and the target. */
  readonly from?: number;
  readonly to?: number;
  /** Split and merge: the shards. */
  readonly shardId?: string;
  readonly adjacentShardId?: string;
  readonly newStartingHashKey?: string;
  readonly reasons: readonly string[];
  readonly dryRun: boolean;
  readonly outcome: 'applied' | 'failed' | 'dry-run';
  readonly error?: string;
}

/** Where the autoscaler keeps what it did: its UpdateShardCount calls count against Kinesis's 24-hour limit. */
export interface ScalingHistory {
  record(event: ScalingEvent): Promise<void>;
  /** The stream's events at or after `since` (epoch ms), newest first. */
  recent(streamName: string, since: number): Promise<ScalingEvent[]>;
}

/** The history in memory, for one process (a dry run, tests). */
export class MemoryScalingHistory implements ScalingHistory {
  private readonly events: ScalingEvent[] = [];

  constructor(private readonly limit = 1_000) {}

  async record(event: ScalingEvent): Promise<void> {
    this.events.unshift(event);
    this.events.length = Math.min(this.events.length, this.limit);
  }

  async recent(streamName: string, since: number): Promise<ScalingEvent[]> {
    return this.events.filter((event) => event.streamName === streamName && event.at >= since);
  }
}

export interface RedisScalingHistoryOptions {
  readonly redis: Redis;
  /** Default `shoal:autoscale`. */
  readonly keyPrefix?: string;
  /** Events kept per stream. Default 1,000. */
  readonly limit?: number;
  /** A stream's history expires this long after its last event. Default 7 days. */
  readonly retentionMs?: number;
}

/** The history in Redis, one list a stream, newest first, capped and expiring, so every autoscaler of the stream sees the same calls. */
export class RedisScalingHistory implements ScalingHistory {
  private readonly prefix: string;
  private readonly limit: number;

  constructor(private readonly options: RedisScalingHistoryOptions) {
    this.prefix = options.keyPrefix ?? 'shoal:autoscale';
    this.limit = options.limit ?? 1_000;
  }

  async record(event: ScalingEvent): Promise<void> {
    const key = this.key(event.streamName);
    await this.options.redis
      .multi()
      .lpush(key, JSON.stringify(event))
      .ltrim(key, 0, this.limit - 1)
      .exec();
  }

  async recent(streamName: string, since: number): Promise<ScalingEvent[]> {
    const entries = await this.options.redis.lrange(this.key(streamName), 0, this.limit - 1);
    const events: ScalingEvent[] = [];
    for (const entry of entries) {
      try {
        const event = JSON.parse(entry) as ScalingEvent;
        if (typeof event.at === 'number' && event.at >= since) events.push(event);
      } catch {
        // Not an event this code wrote: skipped.
      }
    }
    return events;
  }

  private key(streamName: string): string {
    return `${this.prefix}:{${streamName}}:history`;
  }
}
