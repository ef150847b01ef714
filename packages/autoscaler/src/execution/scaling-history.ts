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
  /**
   * `applied`: done and ACTIVE again. `pending`: Kinesis accepted it, and the stream was not
   * ACTIVE again in time. `refused`: Kinesis refused the call (it does not count against the
   * 24-hour limit). `failed`: anything else. `dry-run`: planned only.
   */
  readonly outcome: 'applied' | 'pending' | 'refused' | 'failed' | 'dry-run';
  readonly error?: string;
}

/** Outcomes of a call Kinesis accepted: they count against its 24-hour limit, and as a change for the cooldowns. */
export const ACCEPTED_OUTCOMES: ReadonlySet<ScalingEvent['outcome']> = new Set(['applied', 'pending']);

/** Where the autoscaler keeps what it did: its UpdateShardCount calls count against Kinesis's 24-hour limit. */
export interface ScalingHistory {
  record(event: ScalingEvent): Promise<void>;
  /** The stream's events at or after `since` (epoch ms), newest first. */
  recent(streamName: string, since: number): Promise<ScalingEvent[]>;
  /** When each UpdateShardCount call Kinesis accepted at or after `since` was made: kept apart from the events, so no number of them pushes a call out. */
  callTimes(streamName: string, since: number): Promise<number[]>;
  /** When the stream last changed (any accepted step), or undefined. */
  lastChangeAt(streamName: string): Promise<number | undefined>;
}

/** The history in memory, for one process (a dry run, tests). */
export class MemoryScalingHistory implements ScalingHistory {
  private readonly events: ScalingEvent[] = [];
  /** Accepted calls, apart from the capped events, so no number of events pushes one out. */
  private readonly calls: { readonly streamName: string; readonly at: number }[] = [];

  constructor(private readonly limit = 1_000) {}

  async record(event: ScalingEvent): Promise<void> {
    this.events.unshift(event);
    this.events.length = Math.min(this.events.length, this.limit);
    if (event.kind === 'update-shard-count' && ACCEPTED_OUTCOMES.has(event.outcome)) {
      this.calls.push({ streamName: event.streamName, at: event.at });
      // A call older than two days counts for nothing.
      const oldest = event.at - 2 * 86_400_000;
      while (this.calls.length > 0 && this.calls[0]!.at < oldest) this.calls.shift();
    }
  }

  async recent(streamName: string, since: number): Promise<ScalingEvent[]> {
    return this.events.filter((event) => event.streamName === streamName && event.at >= since);
  }

  async callTimes(streamName: string, since: number): Promise<number[]> {
    return this.calls.filter((call) => call.streamName === streamName && call.at >= since).map((call) => call.at);
  }

  async lastChangeAt(streamName: string): Promise<number | undefined> {
    const accepted = (await this.recent(streamName, 0)).filter((event) => ACCEPTED_OUTCOMES.has(event.outcome));
    return accepted.length === 0 ? undefined : Math.max(...accepted.map((event) => event.at));
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

/** A stream held by one autoscaler. */
export interface StreamHold {
  /** Extends the hold; false when it had lapsed and another took the stream. */
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

const SET_IF_NEWER = `if tonumber(ARGV[1]) > tonumber(redis.call('get', KEYS[1]) or '0') then return redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) end return 0`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** The history in Redis, one list a stream, newest first, capped and expiring, so every autoscaler of the stream sees the same calls. */
export class RedisScalingHistory implements ScalingHistory {
  private readonly prefix: string;
  private readonly limit: number;

  constructor(private readonly options: RedisScalingHistoryOptions) {
    this.prefix = options.keyPrefix ?? 'shoal:autoscale';
    this.limit = options.limit ?? 1_000;
  }

  async record(event: ScalingEvent): Promise<void> {
    const key = this.key(event.streamName, 'history');
    const retentionMs = this.options.retentionMs ?? 7 * 86_400_000;
    const write = this.options.redis
      .multi()
      .lpush(key, JSON.stringify(event))
      .ltrim(key, 0, this.limit - 1)
      .pexpire(key, retentionMs);
    if (ACCEPTED_OUTCOMES.has(event.outcome)) {
      const changed = this.key(event.streamName, 'changed');
      // The newest change wins, whatever order events are recorded in.
      write.eval(SET_IF_NEWER, 1, changed, event.at, retentionMs);
      if (event.kind === 'update-shard-count') {
        const calls = this.key(event.streamName, 'calls');
        write
          .zadd(calls, event.at, `${event.at}:${event.to ?? ''}:${Math.random().toString(36).slice(2)}`)
          .zremrangebyscore(calls, '-inf', event.at - 2 * 86_400_000)
          .pexpire(calls, 2 * 86_400_000);
      }
    }
    await write.exec();
  }

  async callTimes(streamName: string, since: number): Promise<number[]> {
    const members = await this.options.redis.zrangebyscore(this.key(streamName, 'calls'), since, '+inf', 'WITHSCORES');
    const times: number[] = [];
    for (let index = 1; index < members.length; index += 2) times.push(Number(members[index]));
    return times.filter(Number.isFinite);
  }

  async lastChangeAt(streamName: string): Promise<number | undefined> {
    const at = Number(await this.options.redis.get(this.key(streamName, 'changed')));
    return Number.isFinite(at) && at > 0 ? at : undefined;
  }

  async recent(streamName: string, since: number): Promise<ScalingEvent[]> {
    const entries = await this.options.redis.lrange(this.key(streamName, 'history'), 0, this.limit - 1);
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

  private key(streamName: string, what: 'history' | 'calls' | 'changed' | 'lock'): string {
    return `${this.prefix}:{${streamName}}:${what}`;
  }

  /**
   * Holds the stream for one autoscaler at a time (a leader, a `shoal autoscale`, another
   * application's leader), so two never spend the same call: resolves a release, or undefined
   * when another holds it. The hold lapses after `ttlMs` unless renewed, so a dead holder frees it.
   */
  async hold(streamName: string, ttlMs: number): Promise<StreamHold | undefined> {
    const { redis } = this.options;
    const key = this.key(streamName, 'lock');
    const token = Math.random().toString(36).slice(2);
    if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return undefined;
    return {
      renew: async () => (await redis.eval(RENEW, 1, key, token, ttlMs)) === 1,
      release: async () => void (await redis.eval(RELEASE, 1, key, token)),
    };
  }
}
