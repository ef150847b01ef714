/**
 * The moves the leader sent lately, so that every plan (the leader plans on each read of the
 * namespace) does not send them again while their target is still carrying them out: a take
 * waits in its worker's queue behind a cold start's hundreds, a drain takes a batch to finish.
 * A move is sent again once `resendAfterMs` passed, in case its message was lost. Where each
 * lease's last move went is remembered for `rememberForMs`, so a worker that may still hold a
 * move the plan has since given to another can be told.
 */
export class RecentSends {
  private readonly sent = new Map<string, { readonly to: string; readonly leaseCounter: number; readonly atMs: number }>();

  constructor(
    private readonly resendAfterMs: number,
    private readonly rememberForMs = resendAfterMs,
  ) {}

  /** Whether the same move (lease, target, ownership period) went out less than `resendAfterMs` ago. */
  has(leaseKey: string, to: string, leaseCounter: number, nowMs: number): boolean {
    const sent = this.sent.get(leaseKey);
    return sent !== undefined && sent.to === to && sent.leaseCounter === leaseCounter && nowMs - sent.atMs < this.resendAfterMs;
  }

  /** The worker the lease's last move went to, while remembered. */
  lastTarget(leaseKey: string): string | undefined {
    return this.sent.get(leaseKey)?.to;
  }

  note(leaseKey: string, to: string, leaseCounter: number, nowMs: number): void {
    this.sent.set(leaseKey, { to, leaseCounter, atMs: nowMs });
  }

  /** Forgets moves older than `rememberForMs`, and leases the table no longer has: bounded by the namespace. */
  prune(leaseKeys: ReadonlySet<string>, nowMs: number): void {
    for (const [leaseKey, sent] of this.sent) {
      if (!leaseKeys.has(leaseKey) || nowMs - sent.atMs >= this.rememberForMs) this.sent.delete(leaseKey);
    }
  }

  clear(): void {
    this.sent.clear();
  }

  get size(): number {
    return this.sent.size;
  }
}
