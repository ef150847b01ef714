/** A lease asked about is read again this much later: a write without an answer may still apply. */
const POINT_RECHECK_MS = 5_000;
/** A check that failed (a DynamoDB error or timeout) is tried again this much later. */
const RETRY_MS = 1_000;
/** Index checks asked for ahead of time, at most: the earliest and the latest are kept. */
const MAX_SCHEDULED = 8;
/** Leases asked about at once, at most: unsigned prompts can name any lease, and the periodic check covers the rest. */
const MAX_LEASE_CHECKS = 100;
/** Failed reads of one lease tried again, at most. */
const MAX_RETRIES = 3;

/**
 * When a worker that hears the leader checks its own leases besides its periodic check: the
 * owner index at times asked for (a peer leaving may hand leases over with no plan to say so),
 * and single leases it has reason to read (a handover it could not act on, a write that made it
 * the owner without an answer), each read twice, a few seconds apart. A check that fails is
 * asked for again, so a slow DynamoDB only delays it.
 */
export class OwnCheckSchedule {
  private indexChecks: number[] = [];
  private readonly pointChecks = new Map<string, { nextAt: number; left: number; retries: number }>();

  constructor(private readonly now: () => number) {}

  /** An index check at `atMs` (now unless given). */
  indexCheckAt(atMs = this.now()): void {
    // One pending check due by now covers any other asked for now.
    if (atMs <= this.now() && this.indexChecks.some((at) => at <= atMs)) return;
    this.indexChecks.push(atMs);
    this.indexChecks.sort((a, b) => a - b);
    if (this.indexChecks.length > MAX_SCHEDULED) {
      this.indexChecks = [...this.indexChecks.slice(0, MAX_SCHEDULED / 2), ...this.indexChecks.slice(-MAX_SCHEDULED / 2)];
    }
  }

  /** A consistent read of `leaseKey` now, and once more a little later. */
  leaseCheck(leaseKey: string): void {
    if (!this.pointChecks.has(leaseKey) && this.pointChecks.size >= MAX_LEASE_CHECKS) {
      // Too many at once (a flood of prompts): the owner index shows the real ones.
      this.indexCheckAt();
      return;
    }
    this.pointChecks.set(leaseKey, { nextAt: this.now(), left: 2, retries: 0 });
  }

  /** Whether an index check is due; taking it clears every one due by now. */
  takeDueIndexCheck(): boolean {
    const now = this.now();
    const due = this.indexChecks.length > 0 && this.indexChecks[0]! <= now;
    if (due) this.indexChecks = this.indexChecks.filter((at) => at > now);
    return due;
  }

  /** The leases due for a read now; report each read's outcome with `leaseCheckDone`. */
  takeDueLeaseChecks(): string[] {
    const now = this.now();
    const due: string[] = [];
    for (const [leaseKey, check] of this.pointChecks) {
      if (check.nextAt > now) continue;
      due.push(leaseKey);
      this.pointChecks.set(leaseKey, { ...check, nextAt: Number.POSITIVE_INFINITY });
    }
    return due;
  }

  /** A read taken with `takeDueLeaseChecks` ended: read again later, or try a failed read again (a few times). */
  leaseCheckDone(leaseKey: string, succeeded: boolean): void {
    const check = this.pointChecks.get(leaseKey);
    if (!check) return;
    const now = this.now();
    if (succeeded) {
      if (check.left <= 1) this.pointChecks.delete(leaseKey);
      else this.pointChecks.set(leaseKey, { ...check, nextAt: now + POINT_RECHECK_MS, left: check.left - 1 });
    } else if (check.retries >= MAX_RETRIES) {
      // A read that keeps failing is left to the periodic check.
      this.pointChecks.delete(leaseKey);
    } else {
      this.pointChecks.set(leaseKey, { ...check, nextAt: now + RETRY_MS, retries: check.retries + 1 });
    }
  }

  /** A check that failed: try again soon. */
  retryIndexCheck(): void {
    this.indexCheckAt(this.now() + RETRY_MS);
  }

  /** How much is remembered, for the state-bound tests. */
  get size(): number {
    return this.indexChecks.length + this.pointChecks.size;
  }
}
