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
import type { LeaseHost } from '../../leases/lease-host.js';
import { reconcileHostedLeases } from '../../leases/reconcile-hosted-leases.js';
import type { FleetParts } from '../fleet-parts.js';
import { planFleet } from '../fleet-plan.js';
import { GoneWorkers } from '../gone-workers.js';

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
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The lease sync: reads the namespace, tells each hosted lease machine what the table says,
 * removes `table`-mode workers seen dead, feeds the election and the leader, and (where no
 * reachable leader plans for it) plans a balanced assignment and takes this worker's share.
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
  private queued: Promise<void> | undefined;
  private firstSyncAt: number | undefined;

  constructor(private readonly options: LeaseSyncOptions) {
    this.heartbeats = new LivenessTracker(options.leaseDurationMs, options.clock.monotonic);
    this.ownerships = new OwnershipTracker(options.leaseDurationMs, options.clock.monotonic);
  }

  /** The fleet parts, once created (they need this sync as their `refresh`). */
  attachFleet(fleet: FleetParts): void {
    this.fleet = fleet;
  }

  /**
   * Reads the namespace and acts on it. Syncs never overlap (the loop and a leader's refresh
   * both ask): one asked for while another runs starts when it ends, so an older read can never
   * be applied after a newer one.
   */
  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.syncOnce().finally(() => (this.running = undefined));
      return this.running;
    }
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.sync();
      });
    return this.queued;
  }

  private async syncOnce(): Promise<void> {
    const { store, namespace, workerId, host, clock } = this.options;
    const snapshot = await store.readNamespace(namespace);
    // What the read saw may have been written just before it returned: count its age from then.
    const readAt = clock.monotonic();
    this.reportMalformed(snapshot);
    this.heartbeats.observe(snapshot.workers, readAt);
    this.ownerships.observe(snapshot.leases, readAt);
    reconcileHostedLeases(snapshot, {
      host,
      workerId,
      mayAdopt: this.options.mayTakeLeases,
      isActiveWorker: (id) => this.isActiveWorker(id, snapshot.workers),
      expectsHandoff: (leaseKey, leaseCounter) => this.fleet?.member.expectsHandoff(leaseKey, leaseCounter) ?? false,
    });
    // A worker counts as dead only once its record was removed on the heartbeat we saw stand still
    // (the conditional delete proves no heartbeat happened since, however slow our reads were),
    // or its record disappeared (see GoneWorkers).
    this.removedWorkers.observe(snapshot);
    host.forgetRelinquishedExcept(new Set(snapshot.leases.map((lease) => lease.leaseKey)));
    const removed = await this.removeDeadWorkers(snapshot.workers);
    const current = removed.size === 0 ? snapshot : { ...snapshot, workers: snapshot.workers.filter((w) => !removed.has(w.workerId)) };
    this.lastSnapshot = current;
    const fleet = this.fleet;
    if (fleet) {
      fleet.directory.observe(current);
      await fleet.election.observe(snapshot.leadership, readAt);
      fleet.leader.observe(current);
    }
    if (this.options.mayTakeLeases()) this.takeShare(current);
  }

  /** How much this sync remembers, for tests and metrics: each figure is bounded by the leases or workers in the table. */
  stateSizes(): Record<string, number> {
    return {
      removedWorkers: this.removedWorkers.size,
      unownedSince: this.unownedSince.size,
      reportedMalformed: this.reportedMalformed.size,
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
   * Whether `workerId` is a registered, active and live worker: by the last read when it lists
   * the worker, else by a consistent read of its record (a worker that registered since).
   */
  async isLiveWorker(workerId: string): Promise<boolean> {
    const snapshot = this.lastSnapshot;
    if (snapshot?.workers.some((worker) => worker.workerId === workerId)) return this.isActiveWorker(workerId, snapshot.workers);
    const record = await this.options.store.getWorker(this.options.namespace, workerId);
    return record !== undefined && record.status === 'active';
  }

  /** The moves that give this worker's leases to the others, planned from the last read (none before the first). */
  planShutdownMoves(): LeaseMove[] {
    const snapshot = this.lastSnapshot;
    if (!snapshot) return [];
    const { workerId } = this.options;
    const plan = planFleet({
      snapshot,
      isAlive: (id) => this.isWorkerAlive(id, snapshot.workers),
      exclude: new Set([workerId]),
      ownerships: this.ownerships,
      deadOwners: this.removedWorkers.ids,
      maxLeasesPerWorker: this.options.maxLeasesPerWorker,
    });
    return plan.moves.filter((move) => move.from === workerId);
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
    });
    if (!plan.workers.includes(workerId)) return;
    const fleet = this.fleet;
    const leaderPlans = fleet !== undefined && fleet.bus.isConnected() && (fleet.leader.isLeading() || this.options.hearsLeader());
    const now = clock.monotonic();
    this.firstSyncAt ??= now;
    const joining = now - this.firstSyncAt < this.options.joinGraceMs && fleet?.election.liveLeaderId() !== undefined;
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
