import type { Lease } from '../lease-table/lease.js';

/**
 * For leases whose owner has no worker record (it deregistered, or was removed as dead), expiry
 * falls back to the lease itself: the lease is expired once this observer has seen the same
 * (owner, counter) for a whole lease duration.
 */
export class OwnershipTracker {
  private readonly observed = new Map<string, { owner: string; counter: number; sinceMs: number }>();

  constructor(
    private readonly leaseDurationMs: number,
    private readonly monotonicNow: () => number,
  ) {}

  /** `readAt`: when the read returned; what it saw is counted as standing still from then. */
  observe(leases: readonly Lease[], readAt: number = this.monotonicNow()): void {
    const now = readAt;
    const seen = new Set<string>();
    for (const lease of leases) {
      if (lease.leaseOwner === undefined) continue;
      seen.add(lease.leaseKey);
      const previous = this.observed.get(lease.leaseKey);
      if (!previous || previous.owner !== lease.leaseOwner || previous.counter !== lease.leaseCounter) {
        this.observed.set(lease.leaseKey, { owner: lease.leaseOwner, counter: lease.leaseCounter, sinceMs: now });
      }
    }
    for (const key of this.observed.keys()) if (!seen.has(key)) this.observed.delete(key);
  }

  /** True once the lease's ownership has not changed for a whole lease duration. */
  isUnchangedForLeaseDuration(lease: Lease): boolean {
    const entry = this.observed.get(lease.leaseKey);
    return entry !== undefined && this.monotonicNow() - entry.sinceMs >= this.leaseDurationMs;
  }
}
