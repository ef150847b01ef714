/** Shards tracked at most; the one used longest ago goes first. */
const MAX_SHARDS = 20_000;

/**
 * A token bucket per shard in this process, for a read budget whose Redis is down: each holds at
 * most one second's allowance at the rate it is asked with (the application's fair share).
 */
export class LocalShareLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** Takes a call token for `shard` at `ratePerSecond`: 0, or the milliseconds until one is there. */
  take(shard: string, ratePerSecond: number, now: number): number {
    const known = this.buckets.get(shard);
    // At least one call's room, so a share below one call a second still grants one every so often.
    const capacity = Math.max(1, ratePerSecond);
    const tokens = known ? Math.min(capacity, known.tokens + (Math.max(0, now - known.at) * ratePerSecond) / 1_000) : capacity;
    this.buckets.delete(shard);
    if (tokens >= 1) {
      this.buckets.set(shard, { tokens: tokens - 1, at: now });
      if (this.buckets.size > MAX_SHARDS) this.buckets.delete(this.buckets.keys().next().value!);
      return 0;
    }
    this.buckets.set(shard, { tokens, at: now });
    return Math.ceil(((1 - tokens) * 1_000) / ratePerSecond);
  }
}
