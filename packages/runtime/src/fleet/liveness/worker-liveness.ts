import type { WorkerLivenessMode } from '@shoal/coordinator';
import type { Clock } from '../../clock.js';

/**
 * What this worker knows about its own liveness, and so whether it may process.
 *
 * - In `table` mode it is alive until `selfFenceAfterMs` after the start of its last successful
 *   DynamoDB heartbeat (others judge it dead only a heartbeat interval later).
 * - In `nats` mode it is alive while its chain of leader grants is unbroken: each grant runs for
 *   `validForMs` from when the worker asked, and only a grant that arrives while the previous one
 *   still runs extends the chain. Once the chain broke, no late grant can revive it; the worker
 *   must win a conditional switch back to `table` mode first, which fails if the leader revoked it.
 */
/** `uncertain`: a switch to `nats` failed without an answer, so the record may say either. */
export type LocalLivenessMode = WorkerLivenessMode | 'uncertain';

export class WorkerLiveness {
  private currentMode: LocalLivenessMode = 'table';
  private confirmedAtMs: number;
  private grantedUntilMs = Number.NEGATIVE_INFINITY;
  private currentGrantTerm: number | undefined;

  constructor(
    private readonly selfFenceAfterMs: number,
    private readonly clock: Clock,
  ) {
    this.confirmedAtMs = clock.monotonic();
  }

  get mode(): LocalLivenessMode {
    return this.currentMode;
  }

  /** A DynamoDB heartbeat (or registration, or switch to `table`) that started at `startedAtMs` succeeded. */
  confirm(startedAtMs: number): void {
    this.confirmedAtMs = Math.max(this.confirmedAtMs, startedAtMs);
  }

  /** The leader of `term` granted liveness for `validForMs` from `requestedAtMs`. */
  grant(requestedAtMs: number, validForMs: number, term: number): void {
    const now = this.clock.monotonic();
    const until = requestedAtMs + validForMs;
    if (this.currentMode !== 'table') {
      // A chain, once broken, stays broken, and lives on one term: only the table switch may
      // let the worker go on.
      if (now > this.grantedUntilMs || term !== this.currentGrantTerm) return;
    } else if (term !== this.currentGrantTerm) {
      this.currentGrantTerm = term;
      this.grantedUntilMs = Number.NEGATIVE_INFINITY;
    }
    if (until > this.grantedUntilMs) this.grantedUntilMs = until;
  }

  /** The term whose grants this worker holds (or last held). */
  get grantTerm(): number | undefined {
    return this.currentGrantTerm;
  }

  /** True while a grant runs for at least `marginMs` more. */
  hasGrant(marginMs = 0): boolean {
    return this.clock.monotonic() + marginMs < this.grantedUntilMs;
  }

  /** The switch to `nats` was written (the chain of grants must be unbroken from here on). */
  enterNats(): void {
    this.currentMode = 'nats';
  }

  /**
   * The switch to `nats` may or may not have been written: until the record is read back, the
   * worker keeps both rules (grants and table heartbeats), so whichever the leader and the others
   * judge it by, it stops first.
   */
  enterUncertain(): void {
    this.currentMode = 'uncertain';
  }

  /** The record was read back in `table` mode: table heartbeats alone, as before. */
  stayTable(): void {
    this.currentMode = 'table';
    this.grantedUntilMs = Number.NEGATIVE_INFINITY;
    this.currentGrantTerm = undefined;
  }

  /** The switch to `table` that started at `startedAtMs` was written. */
  enterTable(startedAtMs: number): void {
    this.currentMode = 'table';
    this.grantedUntilMs = Number.NEGATIVE_INFINITY;
    this.currentGrantTerm = undefined;
    this.confirm(startedAtMs);
  }

  /** In `nats` (or `uncertain`) mode: the chain of grants broke. */
  grantsLapsed(): boolean {
    return this.currentMode !== 'table' && this.clock.monotonic() > this.grantedUntilMs;
  }

  /** The worker may not process now. */
  isFenced(): boolean {
    if (this.currentMode === 'nats') return this.grantsLapsed();
    if (this.currentMode === 'uncertain' && this.grantsLapsed()) return true;
    return this.heartbeatExpired();
  }

  /** Outside `nats` mode: its DynamoDB liveness ran out, so others may take its leases soon. */
  tableLivenessExpired(): boolean {
    return this.currentMode !== 'nats' && this.heartbeatExpired();
  }

  private heartbeatExpired(): boolean {
    return this.clock.monotonic() - this.confirmedAtMs > this.selfFenceAfterMs;
  }
}
