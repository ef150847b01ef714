import { setMaxListeners } from 'node:events';
import type { WorkerLivenessMode } from '@shoal/coordinator';
import { earliest, hasPassed, later, remainingUntil, type Clock, type Instant } from '../../clock.js';
import type { LivenessView } from '../../consumer/liveness-view.js';

/** `uncertain`: a switch to `nats` is being written or got no answer, so the record may say either. */
export type LocalLivenessMode = WorkerLivenessMode | 'uncertain';

const NEVER: Instant = { monotonic: Number.NEGATIVE_INFINITY, wall: Number.NEGATIVE_INFINITY };

/**
 * What this worker knows about its own liveness, and so whether it may process.
 *
 * - In `table` mode it is alive until `selfFenceAfterMs` after the start of its last successful
 *   DynamoDB heartbeat (others judge it dead only a heartbeat interval later).
 * - In `nats` mode it is alive while its chain of leader grants is unbroken: each grant runs for
 *   `validForMs` from when the worker asked, and only a grant that arrives while the previous one
 *   still runs extends the chain. Once the chain broke, no late grant can revive it; the worker
 *   must win a conditional switch back to `table` mode first, which fails if the leader revoked it.
 * - In `uncertain` mode (a switch to `nats` in flight or unanswered) both rules hold at once.
 *
 * Every deadline is an instant on both clocks and passes when either clock passes it, so a
 * machine that was suspended (its monotonic clock stood still) still stops on time.
 */
export class WorkerLiveness implements LivenessView {
  private currentMode: LocalLivenessMode = 'table';
  private confirmedAt: Instant;
  private grantedUntil: Instant = NEVER;
  private currentGrantTerm: number | undefined;
  /** Grants of a newer term that came while the current chain runs: they count once the record names that term. */
  private nextTerm: { term: number; until: Instant } | undefined;
  private period: AbortController | undefined;
  private periodTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly selfFenceAfterMs: number,
    private readonly clock: Clock,
  ) {
    this.confirmedAt = { monotonic: clock.monotonic(), wall: clock.now() };
  }

  get mode(): LocalLivenessMode {
    return this.currentMode;
  }

  /** A DynamoDB heartbeat (or registration, or switch to `table`) that started at `startedAt` succeeded. */
  confirm(startedAt: Instant): void {
    this.confirmedAt = {
      monotonic: Math.max(this.confirmedAt.monotonic, startedAt.monotonic),
      wall: Math.max(this.confirmedAt.wall, startedAt.wall),
    };
  }

  /** The leader of `term` granted liveness for `validForMs` from `requestedAt`. */
  grant(requestedAt: Instant, validForMs: number, term: number): void {
    const until = later(requestedAt, validForMs);
    if (this.currentMode !== 'table') {
      // A chain, once broken, stays broken, and lives on one term: only the table switch may
      // let the worker go on. A newer leader's grants wait until the record names its term.
      if (hasPassed(this.clock, this.grantedUntil)) return;
      if (term !== this.currentGrantTerm) {
        if (this.currentMode === 'nats' && term > (this.currentGrantTerm ?? 0)) this.noteNextTerm(term, until);
        return;
      }
    } else if (term !== this.currentGrantTerm) {
      this.currentGrantTerm = term;
      this.grantedUntil = NEVER;
    }
    this.grantedUntil = {
      monotonic: Math.max(this.grantedUntil.monotonic, until.monotonic),
      wall: Math.max(this.grantedUntil.wall, until.wall),
    };
  }

  private noteNextTerm(term: number, until: Instant): void {
    if (this.nextTerm && this.nextTerm.term > term) return;
    const previous = this.nextTerm?.term === term ? this.nextTerm.until : NEVER;
    this.nextTerm = {
      term,
      until: { monotonic: Math.max(previous.monotonic, until.monotonic), wall: Math.max(previous.wall, until.wall) },
    };
  }

  /**
   * A newer leader grants this worker while its current chain still runs: its record should name
   * the newer term (one conditional write) so it can go on without a pause.
   */
  get pendingTerm(): number | undefined {
    return this.currentMode === 'nats' && !this.grantsLapsed() ? this.nextTerm?.term : undefined;
  }

  /** The record now names `term` (its write applied): the chain goes on under that term's grants. */
  adoptTerm(term: number): void {
    const next = this.nextTerm;
    if (!next || next.term !== term) return;
    this.currentGrantTerm = term;
    this.grantedUntil = {
      monotonic: Math.max(this.grantedUntil.monotonic, next.until.monotonic),
      wall: Math.max(this.grantedUntil.wall, next.until.wall),
    };
    this.nextTerm = undefined;
  }

  /** The term whose grants this worker holds (or last held). */
  get grantTerm(): number | undefined {
    return this.currentGrantTerm;
  }

  /** True while a grant runs for at least `marginMs` more. */
  hasGrant(marginMs = 0): boolean {
    return remainingUntil(this.clock, this.grantedUntil) > marginMs;
  }

  /** The switch to `nats` was written (the chain of grants must be unbroken from here on). */
  enterNats(): void {
    this.currentMode = 'nats';
  }

  /**
   * The switch to `nats` is about to be written, or may or may not have been: until the record
   * is read back, the worker keeps both rules (grants and table heartbeats), so whichever the
   * leader and the others judge it by, it stops first.
   */
  enterUncertain(): void {
    this.currentMode = 'uncertain';
  }

  /** The record was read back in `table` mode: table heartbeats alone, as before. */
  stayTable(): void {
    this.currentMode = 'table';
    this.grantedUntil = NEVER;
    this.currentGrantTerm = undefined;
    this.nextTerm = undefined;
  }

  /** The switch to `table` that started at `startedAt` was written. */
  enterTable(startedAt: Instant): void {
    this.stayTable();
    this.confirm(startedAt);
  }

  /** In `nats` (or `uncertain`) mode: the chain of grants broke. */
  grantsLapsed(): boolean {
    return this.currentMode !== 'table' && hasPassed(this.clock, this.grantedUntil);
  }

  /** The worker may not process now. */
  isFenced(): boolean {
    return hasPassed(this.clock, this.deadline());
  }

  remainingMs(): number {
    return remainingUntil(this.clock, this.deadline());
  }

  /** Outside `nats` mode: its DynamoDB liveness ran out, so others may take its leases soon. */
  tableLivenessExpired(): boolean {
    return this.currentMode !== 'nats' && hasPassed(this.clock, this.tableDeadline());
  }

  signal(): AbortSignal {
    if (this.isFenced()) return AbortSignal.abort(fencedReason());
    if (!this.period || this.period.signal.aborted) {
      this.period = new AbortController();
      // Every processor call and checkpoint in flight, on every lease, listens to this one signal.
      setMaxListeners(0, this.period.signal);
    }
    if (this.periodTimer === undefined) this.watchDeadline();
    return this.period.signal;
  }

  /** Checks at each deadline as it stands; aborts the period's signal once one really passed. */
  private watchDeadline(): void {
    this.periodTimer = setTimeout(() => {
      this.periodTimer = undefined;
      if (this.isFenced()) this.period?.abort(fencedReason());
      else this.watchDeadline();
    }, this.remainingMs() + 1);
    this.periodTimer.unref?.();
  }

  private deadline(): Instant {
    switch (this.currentMode) {
      case 'nats':
        return this.grantedUntil;
      case 'uncertain':
        return earliest(this.grantedUntil, this.tableDeadline());
      case 'table':
        return this.tableDeadline();
    }
  }

  private tableDeadline(): Instant {
    return later(this.confirmedAt, this.selfFenceAfterMs);
  }
}

function fencedReason(): Error {
  return new Error('liveness unconfirmed: the lease deadline passed');
}
