/** A lease asked about is read again this much later: a write without an answer may still apply. */
const POINT_RECHECK_MS = 5_000;
/** A check that failed (a DynamoDB error or timeout) is tried again this much later. */
const RETRY_MS = 1_000;
/** Index checks asked for ahead of time, at most (later ones fold into the last). */
const MAX_SCHEDULED = 8;

/**
 * When a worker that hears the leader checks its own leases besides its periodic check: the
 * owner index at times asked for (a peer leaving may hand leases over with no plan to say so),
 * and single leases it has reason to read (a handover it could not act on, a write that made it
 * the owner without an answer), each read twice, a few seconds apart. A check that fails is
 * asked for again, so a slow DynamoDB only delays it.
 */
export class OwnCheckSchedule {
  private indexChecks: number[] = [];
  private readonly pointChecks = new Map<string, { nextAt: number; left: number }>();

  constructor(private readonly now: () => number) {}

  /** An index check at `atMs` (now unless given). */
  indexCheckAt(atMs = this.now()): void {
    this.indexChecks.push(atMs);
    this.indexChecks.sort((a, b) => a - b);
    if (this.indexChecks.length > MAX_SCHEDULED) this.indexChecks.length = MAX_SCHEDULED;
  }

  /** A consistent read of `leaseKey` now, and once more a little later. */
  leaseCheck(leaseKey: string): void {
    this.pointChecks.set(leaseKey, { nextAt: this.now(), left: 2 });
  }

  /** Whether an index check is due; taking it clears every one due by now. */
  takeDueIndexCheck(): boolean {
    const now = this.now();
    const due = this.indexChecks.length > 0 && this.indexChecks[0]! <= now;
    if (due) this.indexChecks = this.indexChecks.filter((at) => at > now);
    return due;
  }

  /** The leases due for a read now; each is kept for its second read, if any. */
  takeDueLeaseChecks(): string[] {
    const now = this.now();
    const due: string[] = [];
    for (const [leaseKey, check] of this.pointChecks) {
      if (check.nextAt > now) continue;
      due.push(leaseKey);
      if (check.left <= 1) this.pointChecks.delete(leaseKey);
      else this.pointChecks.set(leaseKey, { nextAt: now + POINT_RECHECK_MS, left: check.left - 1 });
    }
    return due;
  }

  /** A check that failed: try again soon. */
  retryIndexCheck(): void {
    this.indexCheckAt(this.now() + RETRY_MS);
  }

  retryLeaseCheck(leaseKey: string): void {
    const check = this.pointChecks.get(leaseKey);
    this.pointChecks.set(leaseKey, { nextAt: this.now() + RETRY_MS, left: (check?.left ?? 0) + 1 });
  }

  /** How much is remembered, for the state-bound tests. */
  get size(): number {
    return this.indexChecks.length + this.pointChecks.size;
  }
}
