/**
 * A local token bucket: up to `capacity` at once, refilled at `perSecond`. It bounds the table
 * reads that messages anyone on NATS can send may cause, while letting a real burst (a worker
 * leaving hands many leases over at once) through.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
    private readonly monotonicNow: () => number,
  ) {
    this.tokens = capacity;
    this.refilledAt = monotonicNow();
  }

  /** Takes a token if there is one. */
  tryTake(): boolean {
    const now = this.monotonicNow();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.refilledAt) / 1_000) * this.perSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
