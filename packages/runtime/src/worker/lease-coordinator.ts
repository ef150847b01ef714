import type { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  LivenessTracker,
  OwnershipTracker,
  listShards,
  type CoordinationBus,
  type Lease,
  type LeaseOwnership,
  type LeaseStore,
  type Logger,
  type NamespaceSnapshot,
  type WorkerRecord,
} from '@shoal/coordinator';
import type { Clock } from '../clock.js';
import type { LeaseMachineEvent, LeaseMachineMode } from '../machines/lease-machine.js';
import { createFleetParts, type FleetParts } from './fleet-parts.js';
import { planFleet } from './fleet-plan.js';
import { reconcileHostedLeases } from './reconcile-hosted-leases.js';
import { finishedLeasesToDelete, newLeasesForShards } from './shard-sync.js';
import { releaseLease } from './release-lease.js';
import type { ResolvedWorkerOptions } from './worker-options.js';
import type { WorkerLiveness } from './worker-liveness.js';

/** What the coordinator needs to know about one lease machine the worker hosts. */
export interface HostedLease {
  /** Top-level machine state: `pending`, `owned`, `draining`, ... */
  readonly state: string;
  readonly ownership: LeaseOwnership | undefined;
}

/** The worker as the coordinator sees it: its lease machines and how to reach them. */
export interface LeaseHost {
  hostedLeases(): ReadonlyMap<string, HostedLease>;
  /** The epoch at which this worker last gave the lease up itself (released, handed off, finished). */
  relinquishedEpoch(leaseKey: string): number | undefined;
  startLease(lease: Lease, mode: LeaseMachineMode): void;
  sendToLease(leaseKey: string, event: LeaseMachineEvent): void;
  /** The worker could not prove it is alive in time: every lease must stop now. */
  fenced(): void;
}

export interface LeaseCoordinatorOptions {
  readonly store: LeaseStore;
  readonly kinesis: KinesisClient;
  readonly namespace: string;
  readonly workerId: string;
  readonly host: LeaseHost;
  readonly liveness: WorkerLiveness;
  /** The fleet's coordination bus; without it the worker coordinates through the table alone. */
  readonly bus: CoordinationBus | undefined;
  readonly options: Pick<
    ResolvedWorkerOptions,
    | 'coordination'
    | 'workerLoadStore'
    | 'applicationName'
    | 'loadReportIntervalMs'
    | 'streamName'
    | 'initialPosition'
    | 'leaseDurationMs'
    | 'heartbeatIntervalMs'
    | 'leaseSyncIntervalMs'
    | 'shardSyncIntervalMs'
    | 'maxLeasesPerWorker'
    | 'drainTimeoutMs'
    | 'leaseCleanupDelayMs'
  >;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The worker's periodic duties against the lease table:
 * - heartbeat: while in `table` liveness mode, one write per interval proves this worker alive
 *   for all its leases (in `nats` mode leader grants do it, with no writes);
 * - lease sync: read the namespace, notice leases lost or asked for, and (with no live leader
 *   to plan for it) plan a balanced assignment and take or ask for this worker's share;
 * - shard sync: create leases for shards that have none.
 * With a coordination bus it also stands for leader, keeps its NATS liveness, and acts on the
 * leader's plans and commands (see {@link FleetLeader}, {@link FleetMember}).
 */
export class LeaseCoordinator {
  private readonly workers: LivenessTracker;
  private readonly ownerships: OwnershipTracker;
  private readonly controller = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private draining = false;
  private fenceReported = false;
  private recovering: Promise<void> | undefined;
  private readonly unownedSince = new Map<string, number>();
  /** Workers this one removed as dead: their leases are free at once, not after a lease duration. */
  private readonly removedWorkers = new Set<string>();
  private readonly finishedSince = new Map<string, number>();
  /** The last namespace read, to plan a shutdown's handoffs without waiting for another. */
  private lastSnapshot: NamespaceSnapshot | undefined;
  private readonly logger: Logger;
  private readonly fleet: FleetParts | undefined;

  constructor(private readonly deps: LeaseCoordinatorOptions) {
    this.workers = new LivenessTracker(deps.options.leaseDurationMs, deps.clock.monotonic);
    this.ownerships = new OwnershipTracker(deps.options.leaseDurationMs, deps.clock.monotonic);
    this.logger = deps.logger;
    this.fleet = deps.bus
      ? createFleetParts(deps, deps.bus, {
          tableAlive: (id) => this.workers.isAlive(id),
          ownerships: this.ownerships,
          mayTakeLeases: () => this.mayTakeLeases(),
          refresh: () => this.syncLeases(),
          onRevoked: () => this.recoverFromRevocation(),
        })
      : undefined;
  }

  /** Registers this worker and creates the stream's missing leases; then the loops may start. */
  async register(): Promise<void> {
    const startedAt = this.deps.clock.monotonic();
    const registered = await this.deps.store.registerWorker(this.deps.namespace, this.deps.workerId, process.env.HOSTNAME);
    if (registered.status === 'conflict') {
      throw new Error(`worker id ${this.deps.workerId} is already registered in ${this.deps.namespace}; worker ids must be unique`);
    }
    this.deps.liveness.confirm(startedAt);
    try {
      await this.syncShards();
    } catch (error) {
      await this.deregister().catch(() => undefined);
      throw error;
    }
  }

  start(): void {
    const { heartbeatIntervalMs, leaseSyncIntervalMs, shardSyncIntervalMs } = this.deps.options;
    this.loops.push(
      this.heartbeatLoop(heartbeatIntervalMs),
      this.every(leaseSyncIntervalMs, () => this.syncLeases(), 'lease sync', true),
      this.every(shardSyncIntervalMs, () => this.syncShards(), 'shard sync'),
    );
    const fleet = this.fleet;
    if (fleet) {
      fleet.member.start();
      fleet.election.start();
      this.loops.push(fleet.keeper.run(this.controller.signal));
      fleet.bus.publish({ type: 'worker-joined', workerId: this.deps.workerId });
    }
  }

  /**
   * From now on, take no leases: the worker is shutting down. Each lease it holds is drained
   * towards the worker the planner picks among the others, so the handoff needs no one to ask.
   * Heartbeats and grants go on until `stop()`.
   */
  async startDraining(): Promise<void> {
    this.draining = true;
    const { store, namespace, workerId } = this.deps;
    // At once, from the last read: the drains have begun and must know their target before
    // the batch in hand is done.
    if (this.lastSnapshot) this.drainTowardsPlannedOwners(this.lastSnapshot);
    const result = await store.markWorkerLeaving(namespace, workerId).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'could not mark this worker as leaving');
    });
    if (result?.status === 'conflict') this.logger.warn('worker record was gone when marking it as leaving');
    this.fleet?.bus.publish({ type: 'worker-leaving', workerId });
  }

  /** Sends each hosted lease's drain the worker the planner picks for it among the others. */
  private drainTowardsPlannedOwners(snapshot: NamespaceSnapshot): void {
    const { workerId, host } = this.deps;
    const plan = planFleet({
      snapshot,
      isAlive: (id) => this.isWorkerAlive(id, snapshot.workers),
      exclude: new Set([workerId]),
      ownerships: this.ownerships,
      deadOwners: this.removedWorkers,
      maxLeasesPerWorker: this.deps.options.maxLeasesPerWorker,
    });
    for (const move of plan.moves) {
      if (move.from === workerId) host.sendToLease(move.leaseKey, { type: 'DRAIN', reason: 'worker-shutdown', handoffTo: move.to });
    }
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.allSettled(this.loops);
    this.fleet?.member.stop();
    await this.fleet?.election.stop();
  }

  /**
   * Releases whatever this worker still owns (a handoff that landed while it drained, a drain
   * that timed out), so nobody waits a lease duration for it, then removes its record.
   */
  async releaseRemainingAndDeregister(): Promise<void> {
    const { store, namespace, workerId } = this.deps;
    try {
      const { leases } = await store.readNamespace(namespace);
      for (const lease of leases) {
        if (lease.leaseOwner !== workerId || lease.checkpoint.type === 'SHARD_END') continue;
        const ownership = { namespace, leaseKey: lease.leaseKey, leaseOwner: workerId, leaseCounter: lease.leaseCounter };
        const { outcome, to } = await releaseLease(store, { ownership, handoffTo: lease.pendingOwner });
        this.logger.info({ shardId: lease.shardId, outcome }, 'gave up a lease still owned at shutdown');
        if (outcome !== 'lost') this.announceRelease(ownership, to);
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'could not release the remaining leases; they expire after the lease duration');
    }
    await this.deregister();
  }

  /** Tells the fleet a lease left this worker, so its next owner starts (or the leader plans) at once. */
  announceRelease(ownership: LeaseOwnership, to: string | undefined): void {
    this.fleet?.bus.publish({
      type: 'lease-released',
      leaseKey: ownership.leaseKey,
      from: ownership.leaseOwner,
      leaseCounter: ownership.leaseCounter + 1,
      ...(to === undefined ? {} : { to }),
    });
  }

  /** Removes this worker's record. */
  async deregister(): Promise<void> {
    await this.deps.store.deregisterWorker(this.deps.namespace, this.deps.workerId);
  }

  /**
   * Heartbeats on a fixed schedule measured from each start (not from each end, which would
   * drift towards the self-fence point), and retries a failed one after a fifth of an interval.
   * In `nats` liveness mode there is nothing to write: leader grants keep the worker alive.
   */
  private async heartbeatLoop(intervalMs: number): Promise<void> {
    const { clock, liveness } = this.deps;
    const signal = this.controller.signal;
    let nextAt = clock.monotonic() + intervalMs;
    while (!signal.aborted) {
      await clock.sleep(Math.max(0, nextAt - clock.monotonic()), signal).catch(() => undefined);
      if (signal.aborted) return;
      const startedAt = clock.monotonic();
      const succeeded = liveness.mode === 'nats' || (await this.heartbeat());
      nextAt = succeeded ? startedAt + intervalMs : clock.monotonic() + intervalMs / 5;
    }
  }

  private async heartbeat(): Promise<boolean> {
    let succeeded = false;
    const { store, namespace, workerId, liveness, clock } = this.deps;
    const startedAt = clock.monotonic();
    try {
      const result = await store.heartbeatWorker(namespace, workerId);
      if (result.status === 'applied') {
        liveness.confirm(startedAt);
        succeeded = true;
      } else {
        // Others removed our record: they judged us dead and may be taking our leases.
        this.logger.warn('worker record was removed by another worker; dropping all leases and registering again');
        await this.recoverFromRevocation();
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'heartbeat failed');
    }
    if (liveness.tableLivenessExpired()) this.reportFence();
    else this.fenceReported = false;
    return succeeded;
  }

  /** Our record is gone (judged dead): drop every lease, then register again in `table` mode. */
  private recoverFromRevocation(): Promise<void> {
    this.recovering ??= (async () => {
      const { store, namespace, workerId, liveness, clock } = this.deps;
      this.fenceReported = false;
      this.reportFence();
      const startedAt = clock.monotonic();
      const again = await store.registerWorker(namespace, workerId, process.env.HOSTNAME);
      if (again.status === 'applied') liveness.enterTable(startedAt);
    })().finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  private reportFence(): void {
    if (this.fenceReported) return;
    this.fenceReported = true;
    this.logger.error('liveness lost: stopping every lease before others may take them');
    this.deps.host.fenced();
  }

  private async syncLeases(): Promise<void> {
    const snapshot = await this.deps.store.readNamespace(this.deps.namespace);
    // What the read saw may have been written just before it returned: count its age from then.
    const readAt = this.deps.clock.monotonic();
    this.workers.observe(snapshot.workers, readAt);
    this.ownerships.observe(snapshot.leases, readAt);
    reconcileHostedLeases(snapshot, {
      host: this.deps.host,
      workerId: this.deps.workerId,
      mayAdopt: () => this.mayTakeLeases(),
      isActiveWorker: (id) => this.isActiveWorker(id, snapshot.workers),
      expectsHandoff: (leaseKey) => this.fleet?.member.expectsHandoff(leaseKey) ?? false,
    });
    // A worker counts as dead only once its record was removed on the heartbeat we saw stand still:
    // the conditional delete proves no heartbeat happened since, however slow our reads were.
    for (const worker of snapshot.workers) this.removedWorkers.delete(worker.workerId);
    const removed = await this.removeDeadWorkers(snapshot.workers);
    const current = removed.size === 0 ? snapshot : { ...snapshot, workers: snapshot.workers.filter((w) => !removed.has(w.workerId)) };
    this.lastSnapshot = current;
    const fleet = this.fleet;
    if (fleet) {
      await fleet.election.observe(snapshot.leadership, readAt);
      fleet.leader.observe(current);
    }
    if (this.mayTakeLeases()) this.takeShare(current);
  }

  private mayTakeLeases(): boolean {
    return !this.draining && !this.deps.liveness.isFenced() && this.recovering === undefined;
  }

  /**
   * Plans from this snapshot and acts on the moves that go to this worker. While a leader is
   * live and reachable it plans for everyone, so this worker only picks up leases that have
   * stayed free for a while (the leader may be slow or cut off from NATS).
   */
  private takeShare(snapshot: NamespaceSnapshot): void {
    const { host, workerId, clock } = this.deps;
    const hosted = host.hostedLeases();
    const plan = planFleet({
      snapshot,
      isAlive: (id) => this.isWorkerAlive(id, snapshot.workers),
      ownerships: this.ownerships,
      deadOwners: this.removedWorkers,
      maxLeasesPerWorker: this.deps.options.maxLeasesPerWorker,
    });
    if (!plan.workers.includes(workerId)) return;
    const leaderPlans = this.fleet !== undefined && this.fleet.bus.isConnected() && this.fleet.election.liveLeaderId() !== undefined;
    const now = clock.monotonic();
    this.trackUnowned(snapshot, now);
    for (const move of plan.moves) {
      if (move.to !== workerId || hosted.has(move.leaseKey)) continue;
      const lease = plan.leases.get(move.leaseKey);
      if (!lease || lease.leaseOwner === workerId) continue;
      if (leaderPlans && !this.freeForLong(lease, now)) continue;
      if (move.kind === 'take') {
        host.startLease(lease, 'acquire');
      } else if (!leaderPlans && (lease.pendingOwner === undefined || !this.isActiveWorker(lease.pendingOwner, snapshot.workers))) {
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
    return since !== undefined && now - since >= 3 * this.deps.options.leaseSyncIntervalMs;
  }

  /** Liveness as this worker can judge it: the leader's grants if it leads, else table heartbeats or a `nats` record. */
  private isWorkerAlive(id: string, workers: readonly WorkerRecord[]): boolean {
    if (id === this.deps.workerId) return true;
    if (this.fleet?.leader.isLeading()) return this.fleet.leader.isAlive(id);
    const record = workers.find((worker) => worker.workerId === id);
    // A `nats`-mode record stands until the leader revokes it.
    return record !== undefined && (record.liveness === 'nats' || this.workers.isAlive(id));
  }

  private isActiveWorker(workerId: string, workers: readonly WorkerRecord[]): boolean {
    const record = workers.find((worker) => worker.workerId === workerId);
    return record !== undefined && record.status === 'active' && this.isWorkerAlive(workerId, workers);
  }

  /** Removes the records of `table`-mode workers seen dead; returns the ids actually removed. */
  private async removeDeadWorkers(workers: readonly WorkerRecord[]): Promise<Set<string>> {
    const removed = new Set<string>();
    for (const worker of workers) {
      if (worker.workerId === this.deps.workerId || worker.liveness !== 'table') continue;
      const heartbeat = this.workers.deadHeartbeat(worker.workerId);
      if (heartbeat === undefined) continue;
      const result = await this.deps.store.removeDeadWorker(this.deps.namespace, worker.workerId, heartbeat);
      if (result.status === 'applied') {
        removed.add(worker.workerId);
        this.removedWorkers.add(worker.workerId);
        this.logger.info({ deadWorkerId: worker.workerId }, 'removed a dead worker; its leases are free to take');
      }
    }
    return removed;
  }

  /**
   * Creates leases for shards that have none, following lineage (see `newLeasesForShards`), and
   * deletes finished parents whose children all started, once `leaseCleanupDelayMs` passed.
   */
  private async syncShards(after?: string): Promise<void> {
    const { store, kinesis, namespace, options, clock } = this.deps;
    // After a shard end, only the shards newer than the finished one: its children are among them.
    const shardFilter = after === undefined ? undefined : { Type: 'AFTER_SHARD_ID' as const, ShardId: after };
    const [shards, snapshot] = await Promise.all([
      listShards(kinesis, options.streamName, { signal: this.controller.signal, shardFilter }),
      store.readNamespace(namespace),
    ]);
    for (const lease of newLeasesForShards(shards, snapshot.leases, options.initialPosition)) {
      const created = await store.createLease(namespace, lease);
      if (created.status === 'applied') this.logger.info({ shardId: lease.shardId, parentShardIds: lease.parentShardIds }, 'created lease');
    }
    // One worker cleans up: the leader, or each worker when there is no bus; and only from a
    // full listing, which names every child of a finished parent.
    if (after !== undefined || (this.fleet && !this.fleet.leader.isLeading())) return;
    this.trackFinished(snapshot.leases);
    for (const lease of finishedLeasesToDelete(
      shards,
      snapshot.leases,
      this.finishedSince,
      clock.monotonic(),
      options.leaseCleanupDelayMs,
    )) {
      const deleted = await store.deleteFinishedLease(namespace, lease.leaseKey);
      if (deleted.status === 'applied') this.logger.info({ shardId: lease.shardId }, 'deleted the finished lease of a parent shard');
    }
  }

  /** When each lease was first seen at SHARD_END, for the cleanup delay. */
  private trackFinished(leases: readonly Lease[]): void {
    const now = this.deps.clock.monotonic();
    const finished = new Set(leases.filter((lease) => lease.checkpoint.type === 'SHARD_END').map((lease) => lease.leaseKey));
    for (const key of this.finishedSince.keys()) if (!finished.has(key)) this.finishedSince.delete(key);
    for (const key of finished) if (!this.finishedSince.has(key)) this.finishedSince.set(key, now);
  }

  /**
   * This worker finished a shard: create its children's leases now and tell the fleet, so a
   * child starts at once instead of at the next shard or lease sync.
   */
  async shardEnded(lease: Lease): Promise<void> {
    try {
      await this.syncShards(lease.shardId);
    } catch (error) {
      this.logger.warn({ err: error, shardId: lease.shardId }, 'could not sync shards after a shard end; the periodic sync will');
    }
    this.fleet?.bus.publish({ type: 'shard-ended', leaseKey: lease.leaseKey, shardId: lease.shardId, from: this.deps.workerId });
    if (!this.fleet) await this.syncLeases().catch(() => undefined);
  }

  /** Runs `task` every `intervalMs` until stopped; a failure is logged and the loop goes on. */
  private async every(intervalMs: number, task: () => Promise<void>, name: string, immediately = false): Promise<void> {
    const signal = this.controller.signal;
    if (!immediately) await this.deps.clock.sleep(intervalMs, signal).catch(() => undefined);
    while (!signal.aborted) {
      try {
        await task();
      } catch (error) {
        if (signal.aborted) return;
        this.logger.warn({ err: error }, `${name} failed`);
      }
      await this.deps.clock.sleep(intervalMs, signal).catch(() => undefined);
    }
  }
}
