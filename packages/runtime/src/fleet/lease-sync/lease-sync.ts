import {
  LivenessTracker,
  OwnershipTracker,
  type Lease,
  type LeaseMove,
  type LeaseStore,
  type Logger,
  type NamespaceSnapshot,
  type WorkerRecord,
} from '@shoal/coordinator';
import type { Clock } from '../../clock.js';
import type { HostedLease, LeaseHost } from '../../leases/lease-host.js';
import { reconcileHostedLeases } from '../../leases/reconcile-hosted-leases.js';
import type { FleetParts } from '../fleet-parts.js';
import { planFleet } from '../fleet-plan.js';
import type { PlannerStreams } from '../stream-eligibility.js';
import { GoneWorkers } from '../gone-workers.js';
import { OwnCheckSchedule } from './own-check-schedule.js';
import { OwnLeaseCheck } from './own-lease-check.js';

/** How long after a peer announced it is leaving this worker first checks whether leases came its way. */
const PEER_LEAVING_CHECK_MS = 2_000;
/** An owner-index check asked for is repeated this much later: the index lags its table a little. */
const INDEX_RECHECK_MS = 5_000;
/**
 * How long a worker that starts with a coordination bus waits for its first grant before it
 * reads the namespace and acts on its own (the leader may be unable to reach it, or none may
 * be elected): meanwhile it reads only the leadership row, and claims it if it is free.
 */
const FIRST_GRANT_WAIT_MS = 10_000;
/**
 * After a periodic namespace read failed (a timeout, throttling), the next waits one read
 * interval, doubling with each failure in a row up to this many (jittered): a table that cannot
 * answer is not helped by every worker asking again each second, and a read that timed out
 * still cost the table the whole namespace. A hundred workers that all fall back on the table at
 * once ask for a few namespaces a second within five failures, and the table answers again.
 */
const FAILED_READ_BACKOFF_MAX_INTERVALS = 32;
/**
 * Rows a second that the workers reading the namespace periodically (those without the leader's
 * grants, and the leader) may read together. Every row of a namespace shares one partition key,
 * and one DynamoDB partition serves 3,000 read units a second: this is about 1,100 units of
 * eventually consistent reads of 450-byte rows, so a fleet that falls back on the table all at
 * once (a leader that cannot renew, NATS down) does not keep the table too busy to answer the
 * writes that would bring it back. Each worker spaces its reads by the namespace's rows times the
 * workers it lists; a fleet below 20,000 of those reads every `leaseSyncIntervalMs` as before.
 */
const NAMESPACE_ROWS_PER_SECOND = 20_000;
/** How long a worker record read on its own tells whether that worker may receive a lease. */
const RECORD_READ_VALID_MS = 500;

export interface LeaseSyncOptions {
  readonly store: LeaseStore;
  readonly namespace: string;
  readonly workerId: string;
  readonly host: LeaseHost;
  readonly leaseDurationMs: number;
  readonly leaseSyncIntervalMs: number;
  readonly maxLeasesPerWorker: number | undefined;
  /** False while the worker drains, is fenced or recovers: it takes no leases then. */
  readonly mayTakeLeases: () => boolean;
  /** This worker's streams: leases of streams it does not consume are released, never taken. */
  readonly streams: PlannerStreams;
  /** Gives up a lease of a stream not consumed that the table says this worker owns (nothing here runs it). */
  readonly releaseUnconsumed: (lease: Lease) => void;
  /**
   * True while this worker holds a grant from the leader the table names: the leader's plans
   * reach it, so it leaves balancing to them. Without one (the leader is cut off from it on
   * NATS, or there is none) it acts on the table itself.
   */
  readonly hearsLeader: () => boolean;
  /**
   * For this long after its first sync, a worker that has no grant yet but sees a live leader
   * leaves handoffs to the leader's plan (its first grant is on its way) rather than asking for
   * them itself: the two would race for the same leases.
   */
  readonly joinGraceMs: number;
  /** How often the leader reads the whole namespace besides the reads fleet events prompt. */
  readonly leaderFullSyncIntervalMs: number;
  /** How often a worker that hears the leader checks its own leases. */
  readonly ownLeaseCheckIntervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The lease sync: reads the namespace, tells each hosted lease machine what the table says,
 * removes `table`-mode workers seen dead, feeds the election and the leader, and (where no
 * reachable leader plans for it) plans a balanced assignment and takes this worker's share.
 *
 * What it reads depends on the worker's place in the fleet, so that reads grow with leases, not
 * with workers × leases:
 * - the leader reads the whole namespace every `leaderFullSyncIntervalMs`, and whenever a fleet
 *   event asks it to (`refresh`);
 * - a worker that hears the leader reads only its own leases, every `ownLeaseCheckIntervalMs`
 *   (see {@link OwnLeaseCheck}): the leader's plans, commands and grants tell it the rest;
 * - a worker without a bus, or without a grant of the leader the table names, reads the whole
 *   namespace every `leaseSyncIntervalMs`, as it must to coordinate through the table alone.
 * Every namespace read is eventually consistent: a stale read costs time (a conditional write
 * that conflicts, a move made a sync later), never correctness.
 */
export class LeaseSync {
  /**
   * Heartbeats of `table`-mode workers, to find those whose heartbeat stood still for a lease
   * duration. That only says whom to try to remove: a read handled late (the process paused
   * between DynamoDB's answer and its continuation) makes a live worker look still, so a worker
   * counts as dead only once the conditional removal of its record applied.
   */
  private readonly heartbeats: LivenessTracker;
  readonly ownerships: OwnershipTracker;
  private readonly unownedSince = new Map<string, number>();
  /** Workers removed, revoked or vanished while owning leases: their leases are free at once. */
  private readonly removedWorkers = new GoneWorkers();
  /** The last namespace read, to plan a shutdown's handoffs without waiting for another. */
  private lastSnapshot: NamespaceSnapshot | undefined;
  private fleet: FleetParts | undefined;
  /** Malformed rows already reported (row and problem), so each is logged once, not at every sync. */
  private readonly reportedMalformed = new Set<string>();
  /** The sync running now, and the one asked for while it runs (several asks make one more sync). */
  private running: Promise<void> | undefined;
  private queued: { promise: Promise<void>; full: boolean } | undefined;
  private firstSyncAt: number | undefined;
  private lastFullSyncAt = Number.NEGATIVE_INFINITY;
  private lastOwnCheckAt = Number.NEGATIVE_INFINITY;
  /** Own-lease checks asked for besides the periodic one. */
  private readonly asked: OwnCheckSchedule;
  private peerLeavingCheckedAt = Number.NEGATIVE_INFINITY;
  /** Where the last sync stood, to notice a worker that just came to hear the leader, or may take leases again. */
  private heardLeader = false;
  /** Whether this worker has heard the leader since it started (its first grant came). */
  private everHeardLeader = false;
  /** Whether this worker led at the last sync. */
  private led = false;
  /** Whether the election has named a live leader since this worker started. */
  private sawLiveLeader = false;
  /** Periodic namespace reads that failed in a row, and when the next may go. */
  private failedReads = 0;
  private nextReadAt = Number.NEGATIVE_INFINITY;
  private mayTake = true;
  private readonly ownLeaseCheck: OwnLeaseCheck;
  /** Worker records read one by one (see `isLiveWorker`), each for as long as a fresh namespace read counts. */
  private readonly recentRecords = new Map<string, { live: Promise<boolean>; at: number }>();
  private reportedNoOwnerIndex = false;

  constructor(private readonly options: LeaseSyncOptions) {
    this.heartbeats = new LivenessTracker(options.leaseDurationMs, options.clock.monotonic);
    this.ownerships = new OwnershipTracker(options.leaseDurationMs, options.clock.monotonic);
    this.asked = new OwnCheckSchedule(options.clock.monotonic);
    this.ownLeaseCheck = new OwnLeaseCheck({
      store: options.store,
      namespace: options.namespace,
      workerId: options.workerId,
      host: options.host,
      isLiveWorker: (id) => this.isLiveWorker(id),
      reconcile: {
        host: options.host,
        workerId: options.workerId,
        mayAdopt: options.mayTakeLeases,
        consumes: (lease) => options.streams.consumes(lease),
        releaseUnconsumed: options.releaseUnconsumed,
        expectsHandoff: (leaseKey, leaseCounter) => this.fleet?.member.expectsHandoff(leaseKey, leaseCounter) ?? false,
      },
    });
  }

  /** The fleet parts, once created (they need this sync as their `refresh`). */
  attachFleet(fleet: FleetParts): void {
    this.fleet = fleet;
  }

  /**
   * The periodic sync: reads what this worker's place in the fleet calls for (see above), if
   * anything is due. Syncs never overlap (the loop and a leader's refresh both ask): one asked
   * for while another runs starts when it ends, so an older read is never applied after a newer one.
   */
  sync(): Promise<void> {
    return this.serialized(false);
  }

  /**
   * Reads the whole namespace now, strongly consistent, and acts on it (a fleet event, a
   * revocation, a shutdown to plan): what prompted it was written a moment ago.
   */
  refresh(): Promise<void> {
    return this.serialized(true);
  }

  private serialized(full: boolean): Promise<void> {
    if (!this.running) {
      this.running = this.syncOnce(full).finally(() => (this.running = undefined));
      return this.running;
    }
    if (this.queued) {
      this.queued.full ||= full;
      return this.queued.promise;
    }
    const queued = { full, promise: Promise.resolve() };
    queued.promise = this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.serialized(queued.full);
      });
    this.queued = queued;
    return queued.promise;
  }

  private async syncOnce(full: boolean): Promise<void> {
    this.firstSyncAt ??= this.options.clock.monotonic();
    const read = full ? 'fresh-namespace' : this.dueRead();
    try {
      if (read === 'own-leases') await this.checkOwnLeases();
      else if (read === 'fresh-namespace') await this.fullSync('strong');
      else if (read === 'namespace' && this.options.clock.monotonic() >= this.nextReadAt) await this.periodicFullSync();
      else if (read === 'leadership') await this.fleet?.election.recheck();
    } finally {
      await this.checkAskedLeases();
    }
  }

  /** A periodic namespace read, spaced by the fleet's size, backing off after failures. */
  private async periodicFullSync(): Promise<void> {
    try {
      await this.fullSync('eventual');
      const intervalMs = this.namespaceReadIntervalMs();
      if (intervalMs > this.options.leaseSyncIntervalMs) {
        this.nextReadAt = this.options.clock.monotonic() + intervalMs * (0.75 + Math.random() / 2);
      }
    } catch (error) {
      this.failedReads += 1;
      const intervals = Math.min(FAILED_READ_BACKOFF_MAX_INTERVALS, 2 ** (this.failedReads - 1));
      // At most the larger of the backoff and the fleet's spacing: never the two multiplied.
      const waitMs = Math.max(intervals * this.options.leaseSyncIntervalMs, this.namespaceReadIntervalMs());
      this.nextReadAt = this.options.clock.monotonic() + waitMs * (0.5 + Math.random() / 2);
      throw error;
    }
  }

  /**
   * How far apart this worker's periodic namespace reads go: the lease sync interval, or longer
   * where the namespace's rows times the workers reading it would exceed
   * {@link NAMESPACE_ROWS_PER_SECOND} (10,000 leases and 100 workers: every 50 s).
   */
  private namespaceReadIntervalMs(): number {
    const snapshot = this.lastSnapshot;
    if (!snapshot) return this.options.leaseSyncIntervalMs;
    const rows = snapshot.leases.length + snapshot.workers.length + 1;
    const readers = this.fleet?.leader.isLeading() ? 1 : Math.max(1, snapshot.workers.length);
    return Math.max(this.options.leaseSyncIntervalMs, ((rows * readers) / NAMESPACE_ROWS_PER_SECOND) * 1_000);
  }

  /** The owner index (or the namespace, for a table without one). */
  private async checkOwnLeases(): Promise<void> {
    this.lastOwnCheckAt = this.options.clock.monotonic();
    try {
      if (await this.ownLeaseCheck.run()) return;
    } catch (error) {
      this.asked.retryIndexCheck();
      throw error;
    }
    this.reportNoOwnerIndex();
    await this.fullSync('eventual');
  }

  /** Consistent reads of the single leases this worker was asked to look at. */
  private async checkAskedLeases(): Promise<void> {
    for (const leaseKey of this.asked.takeDueLeaseChecks()) {
      try {
        await this.ownLeaseCheck.checkOne(leaseKey);
        this.asked.leaseCheckDone(leaseKey, true);
      } catch (error) {
        this.asked.leaseCheckDone(leaseKey, false);
        this.options.logger.debug({ err: error, leaseKey }, 'could not read a lease to check; trying again');
      }
    }
  }

  /** Reads one lease this worker holds (a consistent point read) and acts on what it says. */
  async checkOwnLease(leaseKey: string): Promise<void> {
    try {
      await this.ownLeaseCheck.checkOne(leaseKey);
    } catch (error) {
      this.options.logger.debug({ err: error, leaseKey }, 'could not read a lease another worker asked for; the periodic check will');
    }
  }

  /**
   * Something may have made this worker a lease's owner unseen: read that lease (or, with no
   * lease named, check the owner index) at the next sync.
   */
  checkOwnLeasesSoon(leaseKey?: string): void {
    if (leaseKey !== undefined) {
      this.asked.leaseCheck(leaseKey);
      return;
    }
    // The index may not show a change of the last moment yet: look again a little later.
    const now = this.options.clock.monotonic();
    this.asked.indexCheckAt(now);
    this.asked.indexCheckAt(now + INDEX_RECHECK_MS);
  }

  /**
   * A peer is shutting down and may hand leases here whose announcement could be lost: check
   * the owner index when its drains should be done (2 s, and `drainTimeoutMs` + 2 s, later).
   * Peers leaving together (a scale-down) share one pair of checks: the later one falls after
   * all their drains.
   */
  checkOwnLeasesAfterPeerLeaving(drainTimeoutMs: number): void {
    const now = this.options.clock.monotonic();
    if (now - this.peerLeavingCheckedAt < drainTimeoutMs) return;
    this.peerLeavingCheckedAt = now;
    this.asked.indexCheckAt(now + PEER_LEAVING_CHECK_MS);
    this.asked.indexCheckAt(now + drainTimeoutMs + PEER_LEAVING_CHECK_MS);
  }

  /** What the periodic sync reads now. */
  private dueRead(): 'namespace' | 'own-leases' | 'leadership' | 'nothing' {
    const fleet = this.fleet;
    const now = this.options.clock.monotonic();
    const mayTake = this.options.mayTakeLeases();
    const hears = fleet !== undefined && !fleet.leader.isLeading() && this.options.hearsLeader();
    // A worker that just came to hear the leader, or may take leases again, may have missed a
    // handover meanwhile (an announcement it could not act on).
    if ((hears && !this.heardLeader) || (mayTake && !this.mayTake)) this.asked.indexCheckAt(now);
    this.heardLeader = hears;
    // Having led counts: such a worker knows the table, and may hold leases handed to it.
    this.everHeardLeader ||= hears || fleet?.leader.isLeading() === true;
    this.mayTake = mayTake;
    const leading = fleet?.leader.isLeading() === true;
    // A worker just elected reads on the leader's schedule, not on the one it backed off to while
    // it read for itself (as one of many readers of a table that could not answer).
    if (leading && !this.led) {
      this.failedReads = 0;
      this.nextReadAt = Number.NEGATIVE_INFINITY;
    }
    this.led = leading;
    if (!fleet?.bus.isConnected()) return 'namespace';
    if (leading) return now - this.lastFullSyncAt >= this.options.leaderFullSyncIntervalMs ? 'namespace' : 'nothing';
    // A worker that starts with a bus gets its first grant as soon as the leader reads its
    // record: meanwhile it reads only the leadership row (claiming it if free, so a fleet starting
    // on an empty table elects one leader at once), never the namespace, so a fleet starting
    // together (or a table already large, or being filled by the leader) is not read whole by
    // every worker once a second. Leases the leader's plan gave it meanwhile change nothing: the
    // leader plans, and its acquires were conditional writes. (Once it saw a live leader, it
    // reads nothing: the election's view of the row lapses between its checks, and a slow check
    // must not send every joining worker back to reading.)
    if (!hears && !this.everHeardLeader) {
      this.sawLiveLeader ||= fleet.election.liveLeaderId() !== undefined;
      if (now - (this.firstSyncAt ?? now) < FIRST_GRANT_WAIT_MS) {
        if (this.asked.takeDueIndexCheck()) return 'own-leases';
        return this.sawLiveLeader ? 'nothing' : 'leadership';
      }
    }
    if (!hears) return 'namespace';
    fleet.member.forgetExpiredHandoffs();
    const asked = this.asked.takeDueIndexCheck();
    return asked || now - this.lastOwnCheckAt >= this.options.ownLeaseCheckIntervalMs ? 'own-leases' : 'nothing';
  }

  private reportNoOwnerIndex(): void {
    if (this.reportedNoOwnerIndex) return;
    this.reportedNoOwnerIndex = true;
    this.options.logger.warn(
      { namespace: this.options.namespace },
      'the lease table has no owner index (shoal-lease-owner): this worker reads the whole namespace to check its own leases; ' +
        'add the index to cut read costs (see docs/lease-table.md)',
    );
  }

  private async fullSync(consistency: 'strong' | 'eventual'): Promise<void> {
    const { store, namespace, workerId, host, clock } = this.options;
    const snapshot = await store.readNamespace(namespace, { consistency });
    this.failedReads = 0;
    this.nextReadAt = Number.NEGATIVE_INFINITY;
    // What the read saw may have been written just before it returned: count its age from then.
    const readAt = clock.monotonic();
    this.reportMalformed(snapshot);
    this.heartbeats.observe(snapshot.workers, readAt);
    this.ownerships.observe(snapshot.leases, readAt);
    reconcileHostedLeases(snapshot, {
      host,
      workerId,
      mayAdopt: this.options.mayTakeLeases,
      consumes: (lease) => this.options.streams.consumes(lease),
      releaseUnconsumed: this.options.releaseUnconsumed,
      isActiveWorker: (id) => this.isActiveWorker(id, snapshot.workers),
      expectsHandoff: (leaseKey, leaseCounter) => this.fleet?.member.expectsHandoff(leaseKey, leaseCounter) ?? false,
      // Confirmed by a consistent read of the lease (at the end of this sync) before it is stopped.
      confirmMissing: (leaseKey) => this.asked.leaseCheck(leaseKey),
    });
    // A worker counts as dead only once its record was removed on the heartbeat we saw stand still
    // (the conditional delete proves no heartbeat happened since, however slow our reads were),
    // or its record disappeared (see GoneWorkers).
    this.removedWorkers.observe(snapshot);
    host.forgetRelinquishedExcept(new Set(snapshot.leases.map((lease) => lease.leaseKey)));
    const removed = await this.removeDeadWorkers(snapshot.workers);
    const current = removed.size === 0 ? snapshot : { ...snapshot, workers: snapshot.workers.filter((w) => !removed.has(w.workerId)) };
    this.lastSnapshot = current;
    this.lastFullSyncAt = readAt;
    const fleet = this.fleet;
    if (fleet) {
      fleet.directory.observe(current);
      await fleet.election.observe(snapshot.leadership, readAt);
      fleet.leader.observe(current);
    }
    if (this.options.mayTakeLeases()) this.takeShare(current);
  }

  /** Whether a leader plans for this worker: it leads, or holds a grant of the leader the table names. */
  hearsLeader(): boolean {
    return this.fleet?.leader.isLeading() === true || this.options.hearsLeader();
  }

  /** How much this sync remembers, for tests and metrics: each figure is bounded by the leases or workers in the table. */
  stateSizes(): Record<string, number> {
    return {
      removedWorkers: this.removedWorkers.size,
      unownedSince: this.unownedSince.size,
      reportedMalformed: this.reportedMalformed.size,
      askedChecks: this.asked.size,
      recentRecords: this.recentRecords.size,
    };
  }

  /** The worker to take leadership over from `leavingId`: the first other active, live worker by id. */
  successorFor(leavingId: string): string | undefined {
    const snapshot = this.lastSnapshot;
    if (!snapshot) return undefined;
    return snapshot.workers
      .map((worker) => worker.workerId)
      .filter((id) => id !== leavingId && this.isActiveWorker(id, snapshot.workers))
      .sort()[0];
  }

  /**
   * Whether `workerId` is a registered, active and live worker: by the last read when it is
   * recent and lists the worker, else by a consistent read of its record (a worker that
   * registered since, or a worker that reads only its own leases).
   */
  isLiveWorker(workerId: string): Promise<boolean> {
    const snapshot = this.freshSnapshot();
    if (snapshot?.workers.some((worker) => worker.workerId === workerId))
      return Promise.resolve(this.isActiveWorker(workerId, snapshot.workers));
    // A record read a moment ago answers, so a shutdown can read its targets' records while its
    // drains run and not again at each transfer; not for long, since a target may start leaving
    // (several workers shut down together) and must then not be handed leases.
    const now = this.options.clock.monotonic();
    const recent = this.recentRecords.get(workerId);
    if (recent && now - recent.at <= RECORD_READ_VALID_MS) return recent.live;
    const live = this.options.store.getWorker(this.options.namespace, workerId).then((record) => record?.status === 'active');
    for (const [id, entry] of this.recentRecords) if (now - entry.at > RECORD_READ_VALID_MS) this.recentRecords.delete(id);
    const entry = { live, at: now };
    this.recentRecords.set(workerId, entry);
    live.catch(() => {
      if (this.recentRecords.get(workerId) === entry) this.recentRecords.delete(workerId);
    });
    return live;
  }

  /**
   * The moves that give this worker's leases to the others, planned at once (the drains have
   * begun and must know their target before the batch in hand is done): from the last namespace
   * read, with this worker's own leases as it holds them now (a worker that hears the leader
   * read the namespace long ago). Other workers' counts may be old; each transfer checks its
   * target is still a live worker, and the leader evens the rest out.
   */
  planShutdownMoves(): LeaseMove[] {
    const last = this.lastSnapshot;
    if (!last) return [];
    const { workerId, host } = this.options;
    const snapshot = this.freshSnapshot() ?? withOwnLeasesAsHeld(last, workerId, host.hostedLeases());
    const plan = planFleet({
      snapshot,
      isAlive: (id) => this.isWorkerAlive(id, snapshot.workers),
      exclude: new Set([workerId]),
      ownerships: this.ownerships,
      deadOwners: this.removedWorkers.ids,
      maxLeasesPerWorker: this.options.maxLeasesPerWorker,
      streams: this.options.streams,
    });
    return plan.moves.filter((move) => move.from === workerId);
  }

  /** The last namespace read, if it is no older than two lease syncs. */
  private freshSnapshot(): NamespaceSnapshot | undefined {
    const ageMs = this.options.clock.monotonic() - this.lastFullSyncAt;
    return ageMs <= 2 * this.options.leaseSyncIntervalMs ? this.lastSnapshot : undefined;
  }

  /** Logs each malformed lease row once, naming the row and the field, while it stays malformed. */
  private reportMalformed(snapshot: NamespaceSnapshot): void {
    const current = new Set<string>();
    for (const { itemKey, problem } of snapshot.malformed ?? []) {
      const key = `${itemKey}|${problem}`;
      current.add(key);
      if (this.reportedMalformed.has(key)) continue;
      this.reportedMalformed.add(key);
      this.options.logger.error(
        { namespace: this.options.namespace, itemKey, problem },
        `lease row ${itemKey} is malformed (${problem}): its shard is left alone until the row is fixed or deleted`,
      );
    }
    for (const key of this.reportedMalformed) if (!current.has(key)) this.reportedMalformed.delete(key);
  }

  /**
   * Plans from this snapshot and acts on the moves that go to this worker. While this worker
   * hears the leader (it holds a grant of the leader's term) the leader plans for everyone, so
   * this worker only picks up leases that have stayed free for a while. Without a grant of the
   * current leader it takes its share of free and orphaned leases itself, as without a bus.
   */
  private takeShare(snapshot: NamespaceSnapshot): void {
    const { host, workerId, clock } = this.options;
    const hosted = host.hostedLeases();
    const plan = planFleet({
      snapshot,
      isAlive: (id) => this.isWorkerAlive(id, snapshot.workers),
      ownerships: this.ownerships,
      deadOwners: this.removedWorkers.ids,
      maxLeasesPerWorker: this.options.maxLeasesPerWorker,
      streams: this.options.streams,
    });
    if (!plan.workers.includes(workerId)) return;
    const fleet = this.fleet;
    const leaderPlans = fleet !== undefined && fleet.bus.isConnected() && this.hearsLeader();
    const now = clock.monotonic();
    const joining = now - (this.firstSyncAt ?? now) < this.options.joinGraceMs && fleet?.election.liveLeaderId() !== undefined;
    this.trackUnowned(snapshot, now);
    for (const move of plan.moves) {
      if (move.to !== workerId) continue;
      const lease = plan.leases.get(move.leaseKey);
      if (!lease || lease.leaseOwner === workerId) continue;
      const machine = hosted.get(move.leaseKey);
      // A machine waiting for a handoff from an owner that is gone since takes the lease instead.
      const waitsOnGoneOwner = move.kind === 'take' && machine?.state === 'pending';
      if (machine && !waitsOnGoneOwner) continue;
      if (leaderPlans && !this.freeForLong(lease, now)) continue;
      if (waitsOnGoneOwner) {
        host.sendToLease(move.leaseKey, { type: 'LEASE.TAKE', lease });
      } else if (move.kind === 'take') {
        host.startLease(lease, 'acquire');
      } else if (
        !leaderPlans &&
        !joining &&
        (lease.pendingOwner === undefined || !this.isActiveWorker(lease.pendingOwner, snapshot.workers))
      ) {
        host.startLease(lease, 'request-handoff');
      }
    }
  }

  private trackUnowned(snapshot: NamespaceSnapshot, now: number): void {
    const unowned = new Set(snapshot.leases.filter((lease) => lease.leaseOwner === undefined).map((lease) => lease.leaseKey));
    for (const key of this.unownedSince.keys()) if (!unowned.has(key)) this.unownedSince.delete(key);
    for (const key of unowned) if (!this.unownedSince.has(key)) this.unownedSince.set(key, now);
  }

  /** A free lease the leader has left alone for a few lease syncs. */
  private freeForLong(lease: Lease, now: number): boolean {
    const since = this.unownedSince.get(lease.leaseKey);
    return since !== undefined && now - since >= 3 * this.options.leaseSyncIntervalMs;
  }

  /**
   * Liveness as this worker can judge it: the leader's verdicts if it leads, else the record. A
   * listed worker is alive until its record goes: a `nats`-mode one until the leader revokes it,
   * a `table`-mode one until a removal conditioned on its still heartbeat applies (the
   * `workers` given here no longer list those this sync removed).
   */
  private isWorkerAlive(id: string, workers: readonly WorkerRecord[]): boolean {
    if (id === this.options.workerId) return true;
    if (this.fleet?.leader.isLeading()) return this.fleet.leader.isAlive(id);
    return workers.some((worker) => worker.workerId === id);
  }

  private isActiveWorker(workerId: string, workers: readonly WorkerRecord[]): boolean {
    const record = workers.find((worker) => worker.workerId === workerId);
    return record !== undefined && record.status === 'active' && this.isWorkerAlive(workerId, workers);
  }

  /** Removes the records of `table`-mode workers seen dead; returns the ids actually removed. */
  private async removeDeadWorkers(workers: readonly WorkerRecord[]): Promise<Set<string>> {
    const { store, namespace, workerId, logger } = this.options;
    const removed = new Set<string>();
    for (const worker of workers) {
      if (worker.workerId === workerId || worker.liveness !== 'table') continue;
      const heartbeat = this.heartbeats.deadHeartbeat(worker.workerId);
      if (heartbeat === undefined) continue;
      const result = await store.removeDeadWorker(namespace, worker.workerId, heartbeat);
      if (result.status === 'applied') {
        removed.add(worker.workerId);
        this.removedWorkers.add(worker.workerId);
        logger.info({ deadWorkerId: worker.workerId }, 'removed a dead worker; its leases are free to take');
      }
    }
    return removed;
  }
}

/**
 * `snapshot` with this worker's leases as its machines hold them: those it owns now at their
 * epoch, and none it no longer runs (whoever holds those now, the read cannot say).
 */
function withOwnLeasesAsHeld(snapshot: NamespaceSnapshot, workerId: string, hosted: ReadonlyMap<string, HostedLease>): NamespaceSnapshot {
  const leases = snapshot.leases.map((lease) => {
    const ownership = hosted.get(lease.leaseKey)?.ownership;
    const held = ownership !== undefined && ownership.leaseOwner === workerId;
    if (held) return { ...lease, leaseOwner: workerId, leaseCounter: ownership.leaseCounter, pendingOwner: undefined };
    return lease.leaseOwner === workerId ? { ...lease, leaseOwner: undefined } : lease;
  });
  return { ...snapshot, leases };
}
