import type { TrafficMinute } from '../scaling-planner.js';

/** Equal parts of a shard's hash key range that its records are counted in. */
export const HASH_KEY_BINS = 64;

/** One shard's traffic in one minute. */
export interface ShardTrafficMinute {
  readonly shardId: string;
  /** Start of the minute, epoch ms. */
  readonly minute: number;
  /** Bytes and records put in the minute (by their arrival time). */
  readonly incomingBytes: number;
  readonly incomingRecords: number;
  /** Bytes and records read in the minute, all consumers together. */
  readonly outgoingBytes: number;
  readonly outgoingRecords: number;
  /** Puts refused for throughput. */
  readonly throttledPuts: number;
  /** Incoming records by hash key, in HASH_KEY_BINS equal parts of the shard's range; empty when not known. */
  readonly hashKeyBins: readonly number[];
  /** The window's length when it is not a minute. Default 60. */
  readonly seconds?: number;
  /** False when no one measured the shard in the window. Default true. */
  readonly measured?: boolean;
}

/** Where per-shard, per-minute traffic comes from: Shoal's own consumers (Redis), or CloudWatch. */
export interface TrafficSource {
  /** The stream's per-shard traffic in the whole minutes from `from` (inclusive) to `to` (exclusive), epoch ms. */
  shardMinutes(streamName: string, from: number, to: number): Promise<ShardTrafficMinute[]>;
}

export const MINUTE_MS = 60_000;

/** The start of the window (a minute unless said otherwise) that `epochMs` falls in. */
export function minuteOf(epochMs: number, windowMs = MINUTE_MS): number {
  return Math.floor(epochMs / windowMs) * windowMs;
}

/** The stream's traffic a minute (or window), its shards summed, for every one from `from` to `to` (missing ones as zero). */
export function streamMinutes(
  shardMinutes: readonly ShardTrafficMinute[],
  from: number,
  to: number,
  windowMs = MINUTE_MS,
): TrafficMinute[] {
  const byMinute = new Map<number, { incomingBytes: number; incomingRecords: number; throttledPuts: number }>();
  for (const entry of shardMinutes) {
    const sum = byMinute.get(entry.minute) ?? { incomingBytes: 0, incomingRecords: 0, throttledPuts: 0 };
    sum.incomingBytes += entry.incomingBytes;
    sum.incomingRecords += entry.incomingRecords;
    sum.throttledPuts += entry.throttledPuts;
    byMinute.set(entry.minute, sum);
  }
  const minutes: TrafficMinute[] = [];
  for (let minute = minuteOf(from, windowMs); minute < to; minute += windowMs) {
    const sum = byMinute.get(minute);
    minutes.push({
      at: minute,
      incomingBytes: sum?.incomingBytes ?? 0,
      incomingRecords: sum?.incomingRecords ?? 0,
      throttledPuts: sum?.throttledPuts ?? 0,
      ...(windowMs === MINUTE_MS ? {} : { seconds: windowMs / 1_000 }),
      // A window no shard has an entry for was not measured (each worker marks the shards it reads).
      ...(sum === undefined ? { measured: false } : {}),
    });
  }
  return minutes;
}

/** The bin of `hashKey` within a shard's range. */
export function hashKeyBin(hashKey: bigint, start: bigint, end: bigint): number {
  if (hashKey <= start) return 0;
  if (hashKey >= end) return HASH_KEY_BINS - 1;
  return Number(((hashKey - start) * BigInt(HASH_KEY_BINS)) / (end - start + 1n));
}

/**
 * The hash key that splits a shard's traffic in half, from its bins (linear within the bin where
 * the half falls); the range's midpoint when no bins were counted.
 */
export function trafficMedianHashKey(bins: readonly number[], start: bigint, end: bigint): bigint {
  const total = bins.reduce((sum, count) => sum + count, 0);
  const width = end - start + 1n;
  if (total <= 0) return start + width / 2n;
  let seen = 0;
  for (let bin = 0; bin < bins.length; bin += 1) {
    const count = bins[bin] ?? 0;
    if (seen + count >= total / 2 && count > 0) {
      const within = (total / 2 - seen) / count;
      const binStart = start + (width * BigInt(bin)) / BigInt(bins.length);
      const binWidth = width / BigInt(bins.length);
      const key = binStart + (binWidth * BigInt(Math.round(within * 1_000_000))) / 1_000_000n;
      // A child must own at least one hash key on each side.
      return key <= start ? start + 1n : key > end ? end : key;
    }
    seen += count;
  }
  return start + width / 2n;
}
