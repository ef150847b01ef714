import type { LeadershipRecord } from '../lease-table/lease.js';
import type { LeaseStore } from '../lease-table/lease-store.js';
import type { Logger } from '../logger.js';

/** The clocks and sleep the election runs on; injectable for tests. */
export interface ElectionClock {
  monotonic(): number;
  /** Wall time (epoch ms): a term also ends by it, since a suspended machine's monotonic clock stands still. */
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface LeaderElectionOptions {
  readonly store: LeaseStore;
  readonly namespace: string;
  readonly workerId: string;
  /** Others take leadership over once they saw the row unchanged this long. */
  readonly leadershipDurationMs: number;
  /** How often the leader renews; less than half the duration. */
  readonly renewIntervalMs: number;
  readonly clock: ElectionClock;
  readonly logger: Logger;
  /**
   * This worker became leader (or regained a term it had let lapse). `replaced` is the row it
   * took over from an expired leader, if any.
   */
  readonly onElected?: (term: LeadershipRecord, replaced: LeadershipRecord | undefined) => void;
  /** This worker stopped being leader: another took over, it resigned, or it could not renew in time. */
  readonly onDeposed?: (reason: string) => void;
}

/**
 * Leader election on one conditional DynamoDB row per namespace, judged like a lease: the
 * leader renews every `renewIntervalMs`; a candidate claims the row once it has seen the same
 * (leader, term, heartbeat) for `leadershipDurationMs` of its own monotonic clock, counted from
 * when its read returned, so after the renewal that wrote it. The leader stops acting half a
 * renew interval before that, measured from the start of its last successful renewal (or by
 * wall time, whichever passes first), so two leaders never act at once while clocks run at the
 * same rate. With renewals every interval from each start, a renewal may come up to
 * `leadershipDurationMs − 1.5 × renewIntervalMs` late (1 s with the defaults: a slow DynamoDB
 * answer, a busy event loop) before the term lapses.
 *
 * Candidates learn the row from the namespace reads the worker does anyway (`observe`), so
 * being a candidate costs no extra reads; only the leader writes, once per renew interval.
 */
export class LeaderElection {
  private held: LeadershipRecord | undefined;
  /** Until when this worker may act as leader, on both clocks; it stops once either passes. */
  private validUntil = { monotonic: Number.NEGATIVE_INFINITY, wall: Number.NEGATIVE_INFINITY };
  private seen: { record: LeadershipRecord | undefined; sinceMs: number } | undefined;
  private acting = false;
  private claiming: Promise<void> | undefined;
  private readonly controller = new AbortController();
  private loop: Promise<void> | undefined;
  private expiryCheck: ReturnType<typeof setTimeout> | undefined;
  /** When the last renewal (or the claim) started: the next one is due a renew interval later. */
  private lastRenewalStart = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: LeaderElectionOptions) {}

  /** Starts renewing whenever this worker holds the row. */
  start(): void {
    this.loop ??= this.renewLoop();
  }

  /** True while this worker holds a term it renewed recently enough to act on. */
  isLeader(): boolean {
    this.checkValidity();
    return this.acting;
  }

  /** The held term, while leader. */
  term(): LeadershipRecord | undefined {
    return this.isLeader() ? this.held : undefined;
  }

  /** How much longer this worker may act as leader without another renewal; 0 when not leader. */
  remainingMs(): number {
    const { clock } = this.options;
    if (!this.isLeader()) return 0;
    return Math.max(0, Math.min(this.validUntil.monotonic - clock.monotonic(), this.validUntil.wall - clock.now()));
  }

  /** The leader as last seen in the table, if its row has moved within the leadership duration. */
  liveLeaderId(): string | undefined {
    if (this.isLeader()) return this.options.workerId;
    const seen = this.seen;
    if (!seen?.record?.leaderId) return undefined;
    return this.options.clock.monotonic() - seen.sinceMs < this.options.leadershipDurationMs ? seen.record.leaderId : undefined;
  }

  /**
   * Feeds a fresh read of the row (`readAt`: when the read returned; the value may have been
   * written at any moment before, so its standing still is counted from then) and claims leadership when the row is free or has stood still long enough.
   */
  async observe(record: LeadershipRecord | undefined, readAt: number): Promise<void> {
    const previous = this.seen?.record;
    const changed = !this.seen || !sameRow(previous, record);
    if (changed) this.seen = { record, sinceMs: readAt };
    if (this.held) {
      // A read that began before our own claim or renewal shows an older term: nothing to learn.
      if (record === undefined || record.term < this.held.term) return;
      if (record.term === this.held.term && record.leaderId === this.options.workerId) return;
      this.depose(`leadership passed to ${record.leaderId ?? 'nobody'} (term ${record.term})`);
    }
    const vacant = record === undefined || record.leaderId === undefined;
    const standingMs = this.options.clock.monotonic() - this.seen!.sinceMs;
    const expired = vacant || standingMs >= this.options.leadershipDurationMs;
    if (expired && !this.claiming && !this.controller.signal.aborted) {
      this.claiming = this.claim(record).finally(() => (this.claiming = undefined));
      await this.claiming;
    } else if (!expired && changed) this.checkAtExpiry(this.options.leadershipDurationMs - standingMs);
  }

  /**
   * The row as a grant of its leader showed it, received `at`: the row had this value then, so
   * it stands still from then at the latest. Only a newer row than the last seen counts (grants
   * may come out of order); whether it is vacant or expired is judged by reading it when it would
   * have stood still for a leadership duration, so a worker that hears the leader reads nothing
   * until then.
   */
  observeLeader(record: LeadershipRecord, at: number): void {
    if (this.held || this.controller.signal.aborted) return;
    const seen = this.seen?.record;
    if (seen && (record.term < seen.term || (record.term === seen.term && record.heartbeat <= seen.heartbeat))) return;
    this.seen = { record, sinceMs: at };
    this.checkAtExpiry(this.options.leadershipDurationMs);
  }

  /**
   * Reads the row again the moment it would have stood still for a leadership duration, so a
   * dead leader is replaced then, not at the next namespace read.
   */
  private checkAtExpiry(inMs: number): void {
    clearTimeout(this.expiryCheck);
    this.expiryCheck = setTimeout(() => {
      this.expiryCheck = undefined;
      if (this.controller.signal.aborted || this.held) return;
      this.options.store
        .getLeadership(this.options.namespace)
        .then((record) => this.observe(record, this.options.clock.monotonic()))
        .catch((error: unknown) => this.options.logger.debug({ err: error }, 'could not check the leadership row at its expiry'));
    }, inMs + 1);
    this.expiryCheck.unref?.();
  }

  /** Reads the row now (a consistent read) and claims it if it is vacant or expired. */
  async recheck(): Promise<void> {
    if (this.controller.signal.aborted || this.held) return;
    try {
      const record = await this.options.store.getLeadership(this.options.namespace);
      await this.observe(record, this.options.clock.monotonic());
    } catch (error) {
      this.options.logger.debug({ err: error }, 'could not read the leadership row');
    }
  }

  /** The term of the row as last seen live (undefined when none is, or the row is vacant). */
  liveTerm(): number | undefined {
    if (this.isLeader()) return this.held?.term;
    return this.liveLeaderId() === undefined ? undefined : this.seen?.record?.term;
  }

  /** Steps down (deleting the row, so the next leader need not wait) and stops renewing. */
  async stop(): Promise<void> {
    this.controller.abort();
    clearTimeout(this.expiryCheck);
    await this.loop;
    await this.claiming;
    const held = this.held;
    this.depose('resigned');
    if (held) await this.options.store.resignLeadership(held).catch(() => undefined);
  }

  private async claim(expected: LeadershipRecord | undefined): Promise<void> {
    const startedAt = this.options.clock.monotonic();
    this.lastRenewalStart = startedAt;
    const startedAtWall = this.options.clock.now();
    try {
      const result = await this.options.store.claimLeadership(this.options.namespace, this.options.workerId, expected);
      if (result.status === 'conflict') return;
      this.held = result.value;
      this.seen = { record: result.value, sinceMs: startedAt };
      this.confirm(startedAt, startedAtWall, expected);
      this.options.logger.info({ term: result.value.term, previousLeader: expected?.leaderId }, 'became leader');
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not claim leadership');
    }
  }

  /**
   * Renews on a fixed schedule measured from the start of each renewal (and of the claim), not
   * from its end: a slow answer or a busy event loop must not push every later renewal back
   * until the term lapses.
   */
  private async renewLoop(): Promise<void> {
    const { clock, renewIntervalMs } = this.options;
    const signal = this.controller.signal;
    while (!signal.aborted) {
      const dueAt = this.lastRenewalStart + renewIntervalMs;
      await clock.sleep(Math.max(0, Math.min(renewIntervalMs, dueAt - clock.monotonic())), signal).catch(() => undefined);
      if (signal.aborted || !this.held || clock.monotonic() < this.lastRenewalStart + renewIntervalMs) continue;
      const startedAt = clock.monotonic();
      this.lastRenewalStart = startedAt;
      const startedAtWall = clock.now();
      try {
        const result = await this.options.store.renewLeadership(this.held);
        if (result.status === 'applied') {
          this.held = result.value;
          this.seen = { record: result.value, sinceMs: startedAt };
          this.confirm(startedAt, startedAtWall);
        } else {
          this.held = undefined;
          this.depose('another worker took leadership over');
        }
      } catch (error) {
        this.options.logger.warn({ err: error }, 'could not renew leadership');
        this.checkValidity();
      }
    }
  }

  private confirm(startedAt: number, startedAtWall: number, replaced?: LeadershipRecord): void {
    const { leadershipDurationMs, renewIntervalMs } = this.options;
    const validForMs = leadershipDurationMs - renewIntervalMs / 2;
    this.validUntil = { monotonic: startedAt + validForMs, wall: startedAtWall + validForMs };
    if (!this.acting && !this.validityPassed()) {
      this.acting = true;
      this.options.onElected?.(this.held!, replaced);
    }
  }

  private checkValidity(): void {
    if (this.acting && this.validityPassed()) this.depose('leadership not renewed in time');
  }

  private validityPassed(): boolean {
    const { clock } = this.options;
    return clock.monotonic() >= this.validUntil.monotonic || clock.now() >= this.validUntil.wall;
  }

  private depose(reason: string): void {
    if (reason !== 'leadership not renewed in time') this.held = undefined;
    if (!this.acting) return;
    this.acting = false;
    this.validUntil = { monotonic: Number.NEGATIVE_INFINITY, wall: Number.NEGATIVE_INFINITY };
    this.options.logger.info({ reason }, 'no longer leader');
    this.options.onDeposed?.(reason);
  }
}

function sameRow(a: LeadershipRecord | undefined, b: LeadershipRecord | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.leaderId === b.leaderId && a.term === b.term && a.heartbeat === b.heartbeat;
}
