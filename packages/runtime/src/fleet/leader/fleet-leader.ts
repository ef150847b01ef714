import {
  LivenessGrants,
  signed,
  type CoordinationBus,
  type LeadershipRecord,
  type LeaseStore,
  type Logger,
  type NamespaceSnapshot,
  type OwnershipTracker,
  type PlanMessage,
  type LivenessReply,
  type LivenessRequest,
  type Unsubscribe,
  type WorkerLoad,
  type WorkerLoadStore,
  type WorkerRecord,
} from '@shoal/coordinator';
import type { Clock } from '../../clock.js';
import { planFleet, type FleetMove } from '../fleet-plan.js';
import type { PlannerStreams } from '../stream-eligibility.js';
import { GoneWorkers } from '../gone-workers.js';
import { TokenBucket } from '../token-bucket.js';
import { RecentSends } from './recent-sends.js';

export interface FleetLeaderOptions {
  readonly bus: CoordinationBus;
  readonly store: LeaseStore;
  readonly namespace: string;
  readonly workerId: string;
  /** This worker's signing key: plans and drain commands carry its signature. */
  readonly fleetKey: string;
  readonly ownerships: OwnershipTracker;
  readonly maxLeasesPerWorker: number | undefined;
  /** This worker's streams: a lease is planned when a live worker consumes its stream, and only to such a worker. */
  readonly streams: PlannerStreams;
  /** Where workers report their load, for load-aware plans. */
  readonly loadStore: WorkerLoadStore | undefined;
  readonly application: string;
  /** How often the leader reads the reported loads. */
  readonly loadRefreshMs: number;
  /** A grant keeps a worker alive this long from its request. */
  readonly grantValidForMs: number;
  /** The leader revokes a `nats`-mode worker it has not granted for this long. */
  readonly revokeAfterMs: number;
  /** How long the term may still run without another renewal. */
  readonly remainingTermMs: () => number;
  /** The leadership row as this leader last wrote it (grants carry it). */
  readonly heldTerm: () => LeadershipRecord | undefined;
  /** Reads the namespace afresh (the worker's lease sync, so its own view is refreshed too). */
  readonly refresh: () => Promise<void>;
  /** A worker's record, read on its own (cached a little): for grants to workers that joined after the last read. */
  readonly lookUpWorker: (workerId: string) => Promise<WorkerRecord | undefined>;
  /** Acts on the plan's moves addressed to this worker. */
  readonly actOnOwnMoves: (moves: readonly FleetMove[], snapshot: NamespaceSnapshot) => void;
  readonly clock: Clock;
  readonly logger: Logger;
}

const VERDICT_INTERVAL_MS = 100;
const COMMAND_TIMEOUT_MS = 1_000;
/** Refreshes prompted by fleet events are at least this far apart. */
const MIN_REFRESH_SPACING_MS = 100;
/** Moves per plan message: at most about 800 bytes each (ids up to 256 characters), so a message stays below 256 KiB. */
const MOVES_PER_MESSAGE = 250;
/** Refreshes prompted by fleet events: a burst of 10, then 2 a second (anyone on NATS can send events). */
const PROMPTED_REFRESH_BURST = 10;
const PROMPTED_REFRESHES_PER_SECOND = 2;
/** A take or drain command for the same lease, target and epoch is not sent again sooner than this. */
const RESEND_AFTER_MS = 3_000;
/** How long the leader remembers where it sent a take: a worker holds a planned take in its queue at most this long in practice (a cold start's share at 8 at a time). */
const TAKE_REMEMBERED_MS = 60_000;
/** Record reads for liveness requests of workers the last namespace read did not list: a burst of 100, then 20 a second (anyone on NATS can ask). */
const JOINER_READS_BURST = 100;
const JOINER_READS_PER_SECOND = 20;
/** A joiner's record read on its own is used for grants this long, or until a namespace read lists the worker. */
const JOINER_RECORD_MS = 10_000;

/**
 * What the elected leader does: grants liveness over NATS, revokes `nats`-mode workers whose
 * grants ran out (a conditional delete of their record, so a worker that switched back to table
 * heartbeats in time is never revoked), plans the assignment on every fresh snapshot and on fleet
 * events, tells owners to drain leases to their new owner, and publishes the plan so workers take
 * free leases at once.
 */
export class FleetLeader {
  private readonly grants: LivenessGrants;
  private term: LeadershipRecord | undefined;
  private previousLeaderId: string | undefined;
  private snapshot: NamespaceSnapshot | undefined;
  private stopServing: Unsubscribe | undefined;
  private readonly sentDrains = new RecentSends(RESEND_AFTER_MS);
  private readonly sentTakes = new RecentSends(RESEND_AFTER_MS, TAKE_REMEMBERED_MS);
  /** Workers whose record vanished while they own leases (see GoneWorkers): their leases are free. */
  private readonly gone = new GoneWorkers();
  /**
   * Workers this term revoked, with the registration (`startedAt`) revoked: their leases are free
   * now, not after a lease duration. Only a record registered since (a new incarnation) ends it,
   * never a read that still lists the revoked one (served before the delete reached it).
   */
  private readonly revoked = new Map<string, number>();
  /** Workers judged overdue whose revocation is being written: no grant may start a new chain meanwhile. */
  private readonly condemned = new Set<string>();
  private verdictTimer: ReturnType<typeof setInterval> | undefined;
  /**
   * Workers this term granted that went silent while the last read still shows them in `table`
   * mode: they switched to `nats` after that read, most likely. One fresh read per silence.
   */
  private readonly silentChecked = new Set<string>();
  /** Snapshots observed so far, and the snapshot on which each worker's revocation last conflicted: not tried again before a newer read. */
  private snapshotCount = 0;
  private readonly conflictedOn = new Map<string, number>();
  private revoking = false;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private lastRefreshAt = Number.NEGATIVE_INFINITY;
  private readonly promptedRefreshes: TokenBucket;
  private loads: ReadonlyMap<string, WorkerLoad> = new Map();
  private loadsReadAt = Number.NEGATIVE_INFINITY;
  /** Leases the last plan spread over the fleet (those that may be processed now); undefined before any plan. */
  private plannedLeases: number | undefined;
  /**
   * Records of workers that asked for grants before a namespace read listed them, each read on
   * its own: a fleet starting together is granted within a request or two, not at the next read.
   */
  private readonly joiners = new Map<string, { readonly record: WorkerRecord; readonly readAt: number }>();
  private readonly lookingUp = new Set<string>();
  private readonly joinerReads: TokenBucket;

  constructor(private readonly options: FleetLeaderOptions) {
    this.promptedRefreshes = new TokenBucket(PROMPTED_REFRESH_BURST, PROMPTED_REFRESHES_PER_SECOND, options.clock.monotonic);
    this.joinerReads = new TokenBucket(JOINER_READS_BURST, JOINER_READS_PER_SECOND, options.clock.monotonic);
    this.grants = new LivenessGrants({
      grantValidForMs: options.grantValidForMs,
      revokeAfterMs: options.revokeAfterMs,
      monotonicNow: options.clock.monotonic,
    });
  }

  isLeading(): boolean {
    return this.term !== undefined;
  }

  /**
   * Leading with term left to act on: what a duty with effects outside the fleet (the autoscaler)
   * asks before each step, so a leader paused past its term does not act on a stale belief.
   */
  leadsWithTermLeft(): boolean {
    return this.term !== undefined && this.options.remainingTermMs() > 0;
  }

  /**
   * Whether a worker counts as alive for planning: listed, and not revoked. Only a conditional
   * delete proves a worker stopped: a `nats`-mode worker's revocation (it may have switched to
   * table heartbeats after the snapshot was read), a `table`-mode worker's removal on the
   * heartbeat seen standing still (the lease sync drops those from the snapshot it passes on).
   */
  /** The largest shard lag the workers' load reports give; undefined while not leading or without reports. */
  applicationMaxLagMs(): number | undefined {
    if (!this.isLeading()) return undefined;
    let max: number | undefined;
    for (const load of this.loads.values()) if (load.maxLagMs !== undefined) max = Math.max(max ?? 0, load.maxLagMs);
    return max;
  }

  /** How many leases the last plan of this term spread over the fleet; undefined while not leading. */
  plannedLeaseCount(): number | undefined {
    return this.isLeading() ? this.plannedLeases : undefined;
  }

  isAlive(workerId: string): boolean {
    if (workerId === this.options.workerId) return true;
    const listed = this.snapshot?.workers.some((worker) => worker.workerId === workerId) ?? false;
    return listed && !this.revoked.has(workerId);
  }

  /** How much the leader remembers, for tests and metrics: each figure is bounded by the workers or leases in the table. */
  stateSizes(): Record<string, number> {
    return {
      grants: this.grants.size,
      revoked: this.revoked.size,
      sentDrains: this.sentDrains.size,
      sentTakes: this.sentTakes.size,
      condemned: this.condemned.size,
      silentChecked: this.silentChecked.size,
      conflictedOn: this.conflictedOn.size,
      joiners: this.joiners.size,
      lookingUp: this.lookingUp.size,
    };
  }

  elected(term: LeadershipRecord, previousLeaderId: string | undefined): void {
    this.term = term;
    this.previousLeaderId = previousLeaderId === this.options.workerId ? undefined : previousLeaderId;
    this.grants.startTerm(term);
    this.sentDrains.clear();
    this.sentTakes.clear();
    this.revoked.clear();
    this.silentChecked.clear();
    this.conflictedOn.clear();
    this.joiners.clear();
    this.stopServing = this.options.bus.serveLiveness((request) => this.answerLiveness(request));
    this.verdictTimer = setInterval(() => void this.revokeOverdue(), VERDICT_INTERVAL_MS);
    // The previous leader's grants ended with its term: it may be overdue already.
    void this.revokeOverdue();
    this.options.bus.publish({ type: 'leader-changed', leaderId: this.options.workerId, term: term.term });
  }

  deposed(): void {
    this.term = undefined;
    this.grants.endTerm();
    this.stopServing?.();
    this.stopServing = undefined;
    clearInterval(this.verdictTimer);
    this.verdictTimer = undefined;
  }

  /** A fresh snapshot from the worker's lease sync: plan from it. */
  observe(snapshot: NamespaceSnapshot): void {
    this.snapshot = snapshot;
    this.snapshotCount += 1;
    this.gone.observe(snapshot);
    const listed = new Set(snapshot.workers.map((worker) => worker.workerId));
    const owners = new Set(snapshot.leases.map((lease) => lease.leaseOwner));
    // A revoked worker that registered again is a new incarnation; one that owns nothing any
    // more needs no remembering.
    const startedAt = new Map(snapshot.workers.map((worker) => [worker.workerId, worker.startedAt]));
    for (const [workerId, revokedStart] of this.revoked) {
      const listedStart = startedAt.get(workerId);
      if ((listedStart !== undefined && listedStart !== revokedStart) || !owners.has(workerId)) this.revoked.delete(workerId);
    }
    const now = this.options.clock.monotonic();
    for (const [workerId, joiner] of this.joiners) {
      if (listed.has(workerId) || now - joiner.readAt >= JOINER_RECORD_MS) this.joiners.delete(workerId);
    }
    this.grants.keepOnly(new Set([...listed, ...this.joiners.keys()]));
    for (const workerId of this.silentChecked) if (!listed.has(workerId)) this.silentChecked.delete(workerId);
    for (const workerId of this.conflictedOn.keys()) if (!listed.has(workerId)) this.conflictedOn.delete(workerId);
    const leaseKeys = new Set(snapshot.leases.map((lease) => lease.leaseKey));
    this.sentDrains.prune(leaseKeys, now);
    this.sentTakes.prune(leaseKeys, now);
    if (!this.term || this.options.remainingTermMs() <= 0) return;
    this.refreshLoads();
    this.plan(snapshot);
    this.forwardHandoffRequests(snapshot);
  }

  /**
   * Handoff requests in the table, written by workers that plan for themselves (they hold no
   * grant of this leader): an owner that hears the leader reads its own leases only now and
   * then, so the leader passes each request on as a drain command towards the requester.
   */
  private forwardHandoffRequests(snapshot: NamespaceSnapshot): void {
    const term = this.term!;
    const now = this.options.clock.monotonic();
    for (const lease of snapshot.leases) {
      const { leaseOwner: owner, pendingOwner: requester } = lease;
      if (owner === undefined || requester === undefined || owner === requester || owner === this.options.workerId) continue;
      if (!this.isAlive(owner) || !this.isAlive(requester)) continue;
      if (snapshot.workers.find((worker) => worker.workerId === requester)?.status !== 'active') continue;
      if (this.sentDrains.has(lease.leaseKey, requester, lease.leaseCounter, now)) continue;
      this.sentDrains.note(lease.leaseKey, requester, lease.leaseCounter, now);
      void this.sendDrain(owner, lease.leaseKey, requester, lease.leaseCounter, term.term);
    }
  }

  /** Something changed in the fleet (worker joined or left, lease released): plan again soon. */
  replanSoon(): void {
    if (!this.term) return;
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    // Beyond the budget the lease sync's own schedule picks the change up.
    if (!this.promptedRefreshes.tryTake()) return;
    this.refreshing = this.refreshWhileAsked().finally(() => (this.refreshing = undefined));
  }

  /**
   * One refresh now, and one more after it if more events came meanwhile, never closer together
   * than `MIN_REFRESH_SPACING_MS`, and each within the budget of prompted refreshes: events come
   * from anyone on NATS, reads are paid for.
   */
  private async refreshWhileAsked(): Promise<void> {
    const { clock, refresh, logger } = this.options;
    do {
      this.refreshAgain = false;
      const waitMs = this.lastRefreshAt + MIN_REFRESH_SPACING_MS - clock.monotonic();
      if (waitMs > 0) await clock.sleep(waitMs).catch(() => undefined);
      if (!this.term) return;
      this.lastRefreshAt = clock.monotonic();
      await refresh().catch((error: unknown) => logger.warn({ err: error }, 'leader could not refresh the lease table'));
    } while (this.refreshAgain && this.promptedRefreshes.tryTake());
  }

  /**
   * Grants only to workers the table lists and that are not being (or were not) revoked, so a
   * worker whose record is gone never lives on, and no chain starts under a pending revocation.
   */
  private answerLiveness(request: LivenessRequest): LivenessReply | undefined {
    const { workerId } = request;
    if (this.revoked.has(workerId) || this.condemned.has(workerId)) return undefined;
    const record = this.snapshot?.workers.find((worker) => worker.workerId === workerId) ?? this.joinerRecord(workerId);
    if (!record) {
      this.lookUpJoiner(workerId);
      return undefined;
    }
    this.silentChecked.delete(workerId);
    // Signed with the key the table holds for the worker: nobody else can keep it alive.
    return this.grants.grant(
      request,
      record.fleetKey,
      this.options.remainingTermMs(),
      this.options.heldTerm()?.heartbeat,
      record.status === 'leaving',
    );
  }

  /** The record read on its own for a worker the last namespace read did not list, while it is fresh. */
  private joinerRecord(workerId: string): WorkerRecord | undefined {
    const joiner = this.joiners.get(workerId);
    // Only active records are kept (see lookUpJoiner).
    return joiner && this.options.clock.monotonic() - joiner.readAt < JOINER_RECORD_MS ? joiner.record : undefined;
  }

  /** Reads the record of a worker that asks for grants unlisted (within a budget: the name may be forged). */
  private lookUpJoiner(workerId: string): void {
    if (!this.term || this.lookingUp.has(workerId) || !this.joinerReads.tryTake()) return;
    this.lookingUp.add(workerId);
    const readAt = this.options.clock.monotonic();
    const snapshotCount = this.snapshotCount;
    this.options
      .lookUpWorker(workerId)
      .then((record) => {
        // A namespace read since, or a revocation, knows better than this read.
        if (record?.status !== 'active' || !this.term || this.snapshotCount !== snapshotCount || this.revoked.has(workerId)) return;
        this.joiners.set(workerId, { record, readAt });
      })
      .catch((error: unknown) => this.options.logger.debug({ err: error, workerId }, 'could not read the record of a joining worker'))
      .finally(() => this.lookingUp.delete(workerId));
  }

  private async revokeOverdue(): Promise<void> {
    const snapshot = this.snapshot;
    if (!this.term || !snapshot || this.revoking || this.options.remainingTermMs() <= 0) return;
    const overdue = this.grants
      .overdue(snapshot.workers, this.previousLeaderId)
      .filter(({ workerId }) => this.conflictedOn.get(workerId) !== this.snapshotCount);
    if (overdue.length === 0) {
      this.readModesOfSilentWorkers(snapshot);
      return;
    }
    this.revoking = true;
    for (const { workerId } of overdue) this.condemned.add(workerId);
    try {
      let revokedAny = false;
      let conflicted = false;
      for (const { workerId, grantTerm } of overdue) {
        if (this.options.remainingTermMs() <= 0) break;
        const result = await this.options.store.revokeWorker(this.options.namespace, workerId, grantTerm);
        if (result.status !== 'applied') {
          // The record moved on since the read (or the read was old: a former member's last one):
          // judged again only on a newer read.
          this.conflictedOn.set(workerId, this.snapshotCount);
          conflicted = true;
          continue;
        }
        this.conflictedOn.delete(workerId);
        this.joiners.delete(workerId);
        if (workerId === this.previousLeaderId) this.previousLeaderId = undefined;
        this.grants.forget(workerId);
        revokedAny = true;
        this.revoked.set(workerId, snapshot.workers.find((worker) => worker.workerId === workerId)?.startedAt ?? 0);
        this.options.logger.warn({ revokedWorkerId: workerId }, 'revoked a worker whose liveness grants ran out; its leases are free');
        this.options.bus.publish({ type: 'worker-revoked', workerId, leaderId: this.options.workerId });
      }
      if (revokedAny) await this.options.refresh();
      else if (conflicted) this.replanSoon();
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not revoke overdue workers');
    } finally {
      this.condemned.clear();
      this.revoking = false;
    }
  }

  /**
   * A worker granted by this term that went silent, listed in `table` mode by the last read:
   * the read is older than its switch to `nats` (a worker switches right after its first
   * grants), so it cannot be judged overdue yet. Read again now, not at the next periodic read.
   */
  private readModesOfSilentWorkers(snapshot: NamespaceSnapshot): void {
    const silent = snapshot.workers.filter(
      (worker) => worker.liveness === 'table' && !this.silentChecked.has(worker.workerId) && this.grants.wentSilent(worker.workerId),
    );
    if (silent.length === 0) return;
    for (const worker of silent) this.silentChecked.add(worker.workerId);
    this.replanSoon();
  }

  /** Reads the reported loads in the background; plans use the latest read (empty: by counts). */
  private refreshLoads(): void {
    const { loadStore, application, clock, loadRefreshMs } = this.options;
    const now = clock.monotonic();
    if (!loadStore || now - this.loadsReadAt < loadRefreshMs) return;
    this.loadsReadAt = now;
    loadStore.readAll(application).then(
      (loads) => (this.loads = loads),
      () => (this.loads = new Map()),
    );
  }

  private plan(snapshot: NamespaceSnapshot): void {
    const term = this.term!;
    const plan = planFleet({
      snapshot,
      isAlive: (workerId) => this.isAlive(workerId),
      ownerships: this.options.ownerships,
      maxLeasesPerWorker: this.options.maxLeasesPerWorker,
      deadOwners: new Set([...this.revoked.keys(), ...this.gone.ids]),
      workerLoads: this.loads,
      streams: this.options.streams,
    });
    this.plannedLeases = plan.leases.size;
    if (plan.moves.length === 0) return;
    const now = this.options.clock.monotonic();
    const fresh = plan.moves.filter(
      (move) => !(move.kind === 'take' ? this.sentTakes : this.sentDrains).has(move.leaseKey, move.to, move.leaseCounter, now),
    );
    if (fresh.length === 0) return;
    this.options.actOnOwnMoves(this.sendPlans(fresh, term.term, snapshot), snapshot);
    for (const move of fresh) {
      if (move.kind === 'take') {
        this.sentTakes.note(move.leaseKey, move.to, move.leaseCounter, now);
        continue;
      }
      if (move.from === undefined) continue;
      this.sentDrains.note(move.leaseKey, move.to, move.leaseCounter, now);
      void this.sendDrain(move.from, move.leaseKey, move.to, move.leaseCounter, term.term);
    }
  }

  /**
   * Each worker gets its own moves on its own subject, in parts small enough for any NATS
   * server: a cold start plans every lease at once, and a plan broadcast whole would cost every
   * worker the parsing and checking of every lease's move. A take sent lately to another worker
   * goes to that worker too, so it drops the take it may still have queued (it keeps only moves
   * addressed to it). Workers whose record does not say they listen on their own subject (an
   * earlier release, during a rolling deploy) get theirs in a plan published to the whole fleet.
   * Returns what is addressed to this worker (the leader), to act on directly.
   */
  private sendPlans(moves: readonly FleetMove[], term: number, snapshot: NamespaceSnapshot): FleetMove[] {
    const { workerId } = this.options;
    const forSelf: FleetMove[] = [];
    const listed = new Set([...snapshot.workers.map((worker) => worker.workerId), ...this.joiners.keys()]);
    const ownSubject = new Set(snapshot.workers.filter((worker) => worker.ownPlanSubject).map((worker) => worker.workerId));
    for (const [joinerId, joiner] of this.joiners) if (joiner.record.ownPlanSubject) ownSubject.add(joinerId);
    const byWorker = new Map<string, PlanMessage['moves'][number][]>();
    const toEveryone: PlanMessage['moves'][number][] = [];
    const address = (to: string, move: FleetMove, message: PlanMessage['moves'][number]) => {
      if (to === workerId) forSelf.push(move);
      else if (!ownSubject.has(to)) toEveryone.push(message);
      else {
        const own = byWorker.get(to);
        if (own) own.push(message);
        else byWorker.set(to, [message]);
      }
    };
    for (const move of moves) {
      const message = {
        leaseKey: move.leaseKey,
        to: move.to,
        kind: move.kind,
        leaseCounter: move.leaseCounter,
        ...(move.from ? { from: move.from } : {}),
      };
      address(move.to, move, message);
      const earlier = move.kind === 'take' ? this.sentTakes.lastTarget(move.leaseKey) : undefined;
      if (earlier === undefined || earlier === move.to) continue;
      // Only the leader or a listed worker may still hold the take, and one of an earlier release
      // hears it in the whole-fleet plan if the move is there already.
      if (earlier === workerId || (listed.has(earlier) && (ownSubject.has(earlier) || ownSubject.has(move.to)))) {
        address(earlier, move, message);
      }
    }
    for (const [to, own] of byWorker) this.sendInParts(own, term, (plan) => this.options.bus.publishPlan(to, plan));
    this.sendInParts(toEveryone, term, (plan) => this.options.bus.publish(plan));
    return forSelf;
  }

  private sendInParts(moves: readonly PlanMessage['moves'][number][], term: number, send: (plan: PlanMessage) => void): void {
    const { workerId, fleetKey } = this.options;
    for (let start = 0; start < moves.length; start += MOVES_PER_MESSAGE) {
      send(signed({ type: 'plan' as const, leaderId: workerId, term, moves: moves.slice(start, start + MOVES_PER_MESSAGE) }, fleetKey));
    }
  }

  private async sendDrain(owner: string, leaseKey: string, to: string, leaseCounter: number, term: number): Promise<void> {
    const { workerId, fleetKey } = this.options;
    const command = signed({ type: 'drain-lease' as const, leaseKey, to, requestedBy: workerId, term, leaseCounter }, fleetKey);
    const reply = await this.options.bus.sendCommand(owner, command, COMMAND_TIMEOUT_MS);
    if (!reply?.accepted)
      this.options.logger.debug({ owner, leaseKey, to, reason: reply?.reason ?? 'no answer' }, 'drain command not accepted');
  }
}
