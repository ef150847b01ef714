import type { LivenessReply, LivenessRequest } from '../coordination/coordination-messages.js';
import { signed, verifyMessage } from '../coordination/message-auth.js';
import type { LeadershipRecord, WorkerRecord } from '../lease-table/lease.js';

export interface LivenessGrantsOptions {
  /** How long a grant keeps a worker alive, counted from its request (the worker's self-fence point). */
  readonly grantValidForMs: number;
  /** How long the leader waits after the last grant before revoking; greater than `grantValidForMs`. */
  readonly revokeAfterMs: number;
  readonly monotonicNow: () => number;
}

/**
 * The leader's side of NATS liveness. A grant is a promise by the leader not to revoke the
 * worker for `revokeAfterMs`; the worker stops processing `grantValidForMs` after it asked, so
 * the worker has stopped before the leader may act. A next leader revokes workers living on an
 * earlier term's grants only `revokeAfterMs` after its own term began: every grant given while
 * the earlier term was valid has run out by then. The leader's grants to itself end with its
 * term, since a next leader revokes its predecessor at once.
 */
export class LivenessGrants {
  private readonly lastGrantAt = new Map<string, number>();
  /** The newest request answered per worker key: an older or repeated one is a replay. */
  private readonly lastSeq = new Map<string, { key: string; seq: number }>();
  private term: LeadershipRecord | undefined;
  private termStartedAt = 0;

  constructor(private readonly options: LivenessGrantsOptions) {}

  /** A new term starts: grants of any earlier term have run out by now. */
  startTerm(term: LeadershipRecord): void {
    this.term = term;
    this.termStartedAt = this.options.monotonicNow();
    this.lastGrantAt.clear();
  }

  endTerm(): void {
    this.term = undefined;
    this.lastGrantAt.clear();
  }

  /**
   * Answers a request signed with `workerKey` (the key the table holds for the worker), signing
   * the grant with the same key; nothing for a request that is not signed so, or that repeats
   * an earlier one. `remainingTermMs` is how long the leader may still act without renewing;
   * `heartbeat` is the leadership row's heartbeat as the leader last renewed it, so the worker
   * can follow the election from grants; `leaving` says the worker's record is marked leaving.
   */
  grant(
    request: LivenessRequest,
    workerKey: string | undefined,
    remainingTermMs: number,
    heartbeat?: number,
    leaving = false,
  ): LivenessReply | undefined {
    const term = this.term;
    if (!term?.leaderId || remainingTermMs <= 0 || workerKey === undefined) return undefined;
    if (!verifyMessage(request, workerKey)) return undefined;
    const last = this.lastSeq.get(request.workerId);
    if (last?.key === workerKey && request.seq <= last.seq) return undefined;
    this.lastSeq.set(request.workerId, { key: workerKey, seq: request.seq });
    this.lastGrantAt.set(request.workerId, this.options.monotonicNow());
    // The leader's own grants end with its term, since a successor revokes it at once. Others'
    // need no such cap: a successor revokes workers of an earlier term only `revokeAfterMs`
    // after its term began, by when any grant given while this term was valid has run out.
    const ownGrant = request.workerId === term.leaderId;
    const validForMs = Math.floor(ownGrant ? Math.min(this.options.grantValidForMs, remainingTermMs) : this.options.grantValidForMs);
    return signed(
      {
        granted: true as const,
        leaderId: term.leaderId,
        term: term.term,
        validForMs,
        seq: request.seq,
        ...(heartbeat === undefined ? {} : { leaderHeartbeat: heartbeat }),
        ...(leaving ? { leaving: true as const } : {}),
      },
      workerKey,
    );
  }

  /**
   * Workers in `nats` mode this leader may revoke now, with the term their record names:
   * - living on this term's grants: once the last grant (or, if none yet, the start of the term)
   *   is older than `revokeAfterMs`;
   * - living on an earlier term's grants: those ran out when that term did, so once this term
   *   is `revokeAfterMs` old (time for live workers to switch back to table heartbeats), and at
   *   once for `previousLeaderId`, which granted only itself.
   * Records naming a later term mean this leader is stale: they are left alone.
   */
  overdue(workers: readonly WorkerRecord[], previousLeaderId?: string): { workerId: string; grantTerm: number | undefined }[] {
    const term = this.term;
    if (!term) return [];
    const now = this.options.monotonicNow();
    const termAge = now - this.termStartedAt;
    const overdue: { workerId: string; grantTerm: number | undefined }[] = [];
    for (const worker of workers) {
      if (worker.liveness !== 'nats' || worker.workerId === term.leaderId) continue;
      const grantTerm = worker.grantTerm ?? 0;
      if (grantTerm > term.term) continue;
      const due =
        grantTerm === term.term
          ? now - (this.lastGrantAt.get(worker.workerId) ?? this.termStartedAt) > this.options.revokeAfterMs
          : worker.workerId === previousLeaderId || termAge > this.options.revokeAfterMs;
      if (due) overdue.push({ workerId: worker.workerId, grantTerm: worker.grantTerm });
    }
    return overdue;
  }

  /** True when this term granted the worker, but not within `revokeAfterMs`. */
  wentSilent(workerId: string): boolean {
    const granted = this.lastGrantAt.get(workerId);
    return granted !== undefined && this.options.monotonicNow() - granted > this.options.revokeAfterMs;
  }

  /** True when the worker was granted within `revokeAfterMs`, or the term is younger than that. */
  isAlive(workerId: string): boolean {
    if (!this.term) return false;
    const granted = this.lastGrantAt.get(workerId) ?? this.termStartedAt;
    return this.options.monotonicNow() - granted <= this.options.revokeAfterMs;
  }

  forget(workerId: string): void {
    this.lastGrantAt.delete(workerId);
  }

  /**
   * Forgets the grants of workers no longer listed (deregistered, revoked or removed), so they do
   * not pile up; a grant younger than `revokeAfterMs` is kept all the same, since it is a promise
   * still running, whatever a read says.
   */
  keepOnly(listed: ReadonlySet<string>): void {
    const now = this.options.monotonicNow();
    for (const [workerId, grantedAt] of this.lastGrantAt) {
      if (listed.has(workerId) || now - grantedAt <= this.options.revokeAfterMs) continue;
      this.lastGrantAt.delete(workerId);
      this.lastSeq.delete(workerId);
    }
    for (const workerId of this.lastSeq.keys()) if (!listed.has(workerId) && !this.lastGrantAt.has(workerId)) this.lastSeq.delete(workerId);
  }

  /** How many workers' grants are remembered. */
  get size(): number {
    return this.lastGrantAt.size;
  }
}
