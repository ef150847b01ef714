import type { Redis } from 'ioredis';
import { HASH_KEY_BINS, MINUTE_MS, minuteOf, type ShardTrafficMinute, type TrafficSource } from './shard-traffic.js';

/** What one application saw of one shard in one minute (or window). */
export type ShardTrafficSample = Omit<ShardTrafficMinute, 'seconds'>;

/** Where traffic samples go: {@link RedisTrafficStore}, or anything else that keeps them. */
export interface TrafficSink {
  /** The window samples are counted in. Default a minute. */
  readonly windowMs?: number;
  add(streamName: string, application: string, samples: readonly ShardTrafficSample[]): Promise<void>;
}

export interface RedisTrafficStoreOptions {
  readonly redis: Redis;
  /** Default `shoal:traffic`. */
  readonly keyPrefix?: string;
  /** How long a minute is kept. Default 3 hours. */
  readonly retentionMs?: number;
  /** The window samples are kept by; writers and readers must agree. Default a minute. */
  readonly windowMs?: number;
}

/** More than a shard could take in a window of a day, by far. */
const MAX_COUNT = 1e15;

const FIELDS = ['incomingBytes', 'incomingRecords', 'outgoingBytes', 'outgoingRecords', 'throttledPuts'] as const;

/**
 * Per-shard, per-minute traffic in Redis, as Shoal's consumers (and producers) see it: one hash a
 * stream and minute, with a field per shard, application and figure, expiring after
 * `retentionMs`. Read back, the incoming traffic of a shard is the largest any application saw
 * (every application reads every record), the outgoing the sum of all, throttled puts summed.
 */
export class RedisTrafficStore implements TrafficSink, TrafficSource {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly retentionMs: number;
  readonly windowMs: number;

  constructor(options: RedisTrafficStoreOptions) {
    this.redis = options.redis;
    this.prefix = options.keyPrefix ?? 'shoal:traffic';
    this.retentionMs = options.retentionMs ?? 3 * 60 * MINUTE_MS;
    this.windowMs = options.windowMs ?? MINUTE_MS;
  }

  async add(streamName: string, application: string, samples: readonly ShardTrafficSample[]): Promise<void> {
    if (samples.length === 0) return;
    const pipeline = this.redis.pipeline();
    const keys = new Set<string>();
    for (const sample of samples) {
      const key = this.key(streamName, minuteOf(sample.minute, this.windowMs));
      keys.add(key);
      const field = (name: string) => `${sample.shardId}|${application}|${name}`;
      // Marks the shard measured in the window, traffic or not.
      pipeline.hset(key, field('seen'), 1);
      for (const name of FIELDS) if (sample[name] > 0) pipeline.hincrbyfloat(key, field(name), sample[name]);
      sample.hashKeyBins.forEach((count, bin) => {
        if (count > 0) pipeline.hincrby(key, field(`h${bin}`), count);
      });
    }
    for (const key of keys) pipeline.pexpire(key, this.retentionMs);
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0];
  }

  async shardMinutes(streamName: string, from: number, to: number): Promise<ShardTrafficMinute[]> {
    const minutes: number[] = [];
    for (let minute = minuteOf(from, this.windowMs); minute < to; minute += this.windowMs) minutes.push(minute);
    const pipeline = this.redis.pipeline();
    for (const minute of minutes) pipeline.hgetall(this.key(streamName, minute));
    const results = (await pipeline.exec()) ?? [];
    const traffic: ShardTrafficMinute[] = [];
    minutes.forEach((minute, index) => {
      const [error, hash] = results[index] ?? [null, {}];
      if (error) throw error;
      const seconds = this.windowMs === MINUTE_MS ? {} : { seconds: this.windowMs / 1_000 };
      traffic.push(...combine(minute, hash as Record<string, string>).map((entry) => ({ ...entry, ...seconds })));
    });
    return traffic;
  }

  private key(streamName: string, minute: number): string {
    return `${this.prefix}:{${streamName}}:${minute}`;
  }
}

interface Seen {
  figures: Record<(typeof FIELDS)[number], number>;
  bins: number[];
}

/** One minute's hash: per shard, the incoming traffic of the application that saw most, the rest summed. */
function combine(minute: number, hash: Record<string, string>): ShardTrafficMinute[] {
  const byShard = new Map<string, Map<string, Seen>>();
  for (const [field, value] of Object.entries(hash)) {
    const [shardId, application, name] = field.split('|');
    if (!shardId || application === undefined || !name) continue;
    const applications = byShard.get(shardId) ?? new Map<string, Seen>();
    byShard.set(shardId, applications);
    const seen = applications.get(application) ?? {
      figures: { incomingBytes: 0, incomingRecords: 0, outgoingBytes: 0, outgoingRecords: 0, throttledPuts: 0 },
      bins: [],
    };
    applications.set(application, seen);
    // Only counts a worker could have written: anything else in the hash is ignored.
    const count = Number(value);
    if (!Number.isFinite(count) || count < 0 || count > MAX_COUNT) continue;
    if (name.startsWith('h')) {
      const bin = Number(name.slice(1));
      if (Number.isInteger(bin) && bin >= 0 && bin < HASH_KEY_BINS) seen.bins[bin] = count;
    } else if ((FIELDS as readonly string[]).includes(name)) {
      seen.figures[name as (typeof FIELDS)[number]] = count;
    }
  }
  return [...byShard].map(([shardId, applications]) => {
    const all = [...applications.values()];
    const reader = all.reduce((best, seen) => (seen.figures.incomingRecords > best.figures.incomingRecords ? seen : best), all[0]!);
    const sum = (name: (typeof FIELDS)[number]) => all.reduce((total, seen) => total + seen.figures[name], 0);
    return {
      shardId,
      minute,
      incomingBytes: reader.figures.incomingBytes,
      incomingRecords: reader.figures.incomingRecords,
      outgoingBytes: sum('outgoingBytes'),
      outgoingRecords: sum('outgoingRecords'),
      throttledPuts: sum('throttledPuts'),
      hashKeyBins: reader.bins.length === 0 ? [] : Array.from({ length: HASH_KEY_BINS }, (_, bin) => reader.bins[bin] ?? 0),
    };
  });
}
