import type { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  LivenessTracker,
  OwnershipTracker,
  listShards,
  planAssignments,
  type Lease,
  type LeaseOwnership,
  type LeaseStore,
  type Logger,
  type NamespaceSnapshot,
  type WorkerRecord,
} from '@shoal/coordinator';
import type { Clock } from '../clock.js';
import type { LeaseMachineEvent, LeaseMachineMode } from '../machines/lease-machine.js';
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
  readonly options: Pick<
    ResolvedWorkerOptions,
    | 'streamName'
    | 'initialPosition'
    | 'leaseDurationMs'
    | 'heartbeatIntervalMs'
    | 'leaseSyncIntervalMs'
    | 'shardSyncIntervalMs'
    | 'maxLeasesPerWorker'
  >;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The worker's periodic duties against the lease table:
 * - heartbeat: one write per interval proves this worker alive for all its leases;
 * - lease sync: read the namespace, notice leases lost or asked for, plan a balanced
 *   assignment and take (or ask for) this worker's share;
 * - shard sync: create leases for shards that have none.
 */
export class LeaseCoordinator {
  private readonly workers: LivenessTracker;
  private readonly ownerships: OwnershipTracker;
  private readonly controller = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private draining = false;
  private fenceReported = false;
  private readonly logger: Logger;

  constructor(private readonly deps: LeaseCoordinatorOptions) {
    this.workers = new LivenessTracker(deps.options.leaseDurationMs, deps.clock.monotonic);
    this.ownerships = new OwnershipTracker(deps.options.leaseDurationMs, deps.clock.monotonic);
    this.logger = deps.logger;
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
  }

  /** From now on, take no leases: the worker is shutting down. Heartbeats go on until `stop()`. */
  async startDraining(): Promise<void> {
    this.draining = true;
    const result = await this.deps.store.markWorkerLeaving(this.deps.namespace, this.deps.workerId).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'could not mark this worker as leaving');
    });
    if (result?.status === 'conflict') this.logger.warn('worker record was gone when marking it as leaving');
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.allSettled(this.loops);
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
        const outcome = await releaseLease(store, { ownership, handoffTo: lease.pendingOwner });
        this.logger.info({ shardId: lease.shardId, outcome }, 'gave up a lease still owned at shutdown');
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'could not release the remaining leases; they expire after the lease duration');
    }
    await this.deregister();
  }

  /** Removes this worker's record. */
  async deregister(): Promise<void> {
    await this.deps.store.deregisterWorker(this.deps.namespace, this.deps.workerId);
  }

  /**
   * Heartbeats on a fixed schedule measured from each start (not from each end, which would
   * drift towards the self-fence point), and retries a failed one after a fifth of an interval.
   */
  private async heartbeatLoop(intervalMs: number): Promise<void> {
    const { clock } = this.deps;
    const signal = this.controller.signal;
    let nextAt = clock.monotonic() + intervalMs;
    while (!signal.aborted) {
      await clock.sleep(Math.max(0, nextAt - clock.monotonic()), signal).catch(() => undefined);
      if (signal.aborted) return;
      const startedAt = clock.monotonic();
      const succeeded = await this.heartbeat();
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
        this.reportFence();
        const again = await store.registerWorker(namespace, workerId, process.env.HOSTNAME);
        if (again.status === 'applied') liveness.confirm(startedAt);
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'heartbeat failed');
    }
    if (liveness.isFenced()) this.reportFence();
    else this.fenceReported = false;
    return succeeded;
  }

  private reportFence(): void {
    if (this.fenceReported) return;
    this.fenceReported = true;
    this.logger.error('liveness unconfirmed for too long: stopping every lease before others may take them');
    this.deps.host.fenced();
  }

  private async syncLeases(): Promise<void> {
    const readStartedAt = this.deps.clock.monotonic();
    const snapshot = await this.deps.store.readNamespace(this.deps.namespace);
    this.workers.observe(snapshot.workers, readStartedAt);
    this.ownerships.observe(snapshot.leases, readStartedAt);
    this.reconcileHostedLeases(snapshot);
    // A worker counts as dead only once its record was removed on the heartbeat we saw stand still:
    // the conditional delete proves no heartbeat happened since, however slow our reads were.
    const removed = await this.removeDeadWorkers(snapshot.workers);
    const workers = snapshot.workers.filter((worker) => !removed.has(worker.workerId));
    if (!this.draining && !this.deps.liveness.isFenced()) this.takeShare({ leases: snapshot.leases, workers });
  }

  /** Tells each lease machine what the table says about its lease. */
  private reconcileHostedLeases(snapshot: NamespaceSnapshot): void {
    const { host, workerId } = this.deps;
    const hosted = host.hostedLeases();
    const byKey = new Map(snapshot.leases.map((lease) => [lease.leaseKey, lease]));
    for (const [leaseKey, machine] of hosted) {
      const lease = byKey.get(leaseKey);
      const ownership = machine.ownership;
      if (!ownership || (machine.state !== 'owned' && machine.state !== 'draining')) continue;
      if (!lease) {
        host.sendToLease(leaseKey, { type: 'LEASE.LOST', reason: 'lease deleted from the lease table' });
      } else if (
        lease.leaseCounter > ownership.leaseCounter ||
        (lease.leaseCounter === ownership.leaseCounter && lease.leaseOwner !== workerId)
      ) {
        host.sendToLease(leaseKey, {
          type: 'LEASE.LOST',
          reason: `lease now held by ${lease.leaseOwner ?? 'nobody'} (epoch ${lease.leaseCounter})`,
        });
      } else if (
        machine.state === 'owned' &&
        lease.leaseCounter === ownership.leaseCounter &&
        lease.pendingOwner !== undefined &&
        lease.pendingOwner !== workerId &&
        this.isActiveWorker(lease.pendingOwner, snapshot.workers)
      ) {
        host.sendToLease(leaseKey, { type: 'DRAIN', reason: 'handoff', handoffTo: lease.pendingOwner });
      }
    }
    for (const lease of snapshot.leases) {
      const machine = hosted.get(lease.leaseKey);
      if (lease.leaseOwner !== workerId) {
        // Waiting for a handoff whose request is gone (released, taken, or another asked later).
        if (machine?.state === 'pending' && lease.pendingOwner !== workerId) {
          host.sendToLease(lease.leaseKey, { type: 'LEASE.HANDOFF_DECLINED' });
        }
        continue;
      }
      if (machine?.state === 'pending') {
        host.sendToLease(lease.leaseKey, { type: 'LEASE.ACQUIRED', lease });
      } else if (!machine && !this.draining && !this.deps.liveness.isFenced() && lease.checkpoint.type !== 'SHARD_END') {
        const relinquished = host.relinquishedEpoch(lease.leaseKey);
        // A read older than our own release still shows us as the owner: only adopt newer epochs,
        // and through a conditional write that starts a new epoch, so a stale read cannot win.
        if (relinquished === undefined || lease.leaseCounter > relinquished) host.startLease(lease, 'acquire');
      }
    }
  }

  /** Plans from this snapshot and acts on the moves that go to this worker. */
  private takeShare(snapshot: NamespaceSnapshot): void {
    const { host, workerId } = this.deps;
    const hosted = host.hostedLeases();
    const eligible = eligibleLeases(snapshot.leases);
    const liveOwner = (lease: Lease) =>
      lease.leaseOwner !== undefined && this.ownerIsLive(lease, snapshot.workers) ? lease.leaseOwner : undefined;
    const activeWorkers = snapshot.workers
      .filter((worker) => worker.status === 'active' && (worker.workerId === workerId || this.workers.isAlive(worker.workerId)))
      .map((worker) => worker.workerId);
    if (!activeWorkers.includes(workerId)) return;

    const plan = planAssignments({
      leases: eligible.map((lease) => ({ leaseKey: lease.leaseKey, owner: liveOwner(lease) })),
      workers: activeWorkers,
      maxLeasesPerWorker: this.deps.options.maxLeasesPerWorker,
    });
    const byKey = new Map(eligible.map((lease) => [lease.leaseKey, lease]));
    for (const move of plan.moves) {
      if (move.to !== workerId || hosted.has(move.leaseKey)) continue;
      const lease = byKey.get(move.leaseKey);
      if (!lease || lease.leaseOwner === workerId) continue;
      if (move.kind === 'take') {
        host.startLease(lease, 'acquire');
      } else if (lease.pendingOwner === undefined || !this.isActiveWorker(lease.pendingOwner, snapshot.workers)) {
        host.startLease(lease, 'request-handoff');
      }
    }
  }

  private ownerIsLive(lease: Lease, workers: readonly WorkerRecord[]): boolean {
    const owner = lease.leaseOwner;
    if (owner === undefined) return false;
    if (owner === this.deps.workerId) return true;
    // A listed owner is alive: dead ones were removed (conditionally) before planning.
    if (workers.some((worker) => worker.workerId === owner)) return true;
    // No worker record (it deregistered or was removed): the lease expires on its own.
    return !this.ownerships.isUnchangedForLeaseDuration(lease);
  }

  private isActiveWorker(workerId: string, workers: readonly WorkerRecord[]): boolean {
    const record = workers.find((worker) => worker.workerId === workerId);
    return record !== undefined && record.status === 'active' && (workerId === this.deps.workerId || this.workers.isAlive(workerId));
  }

  /** Removes the records of workers seen dead; returns the ids actually removed. */
  private async removeDeadWorkers(workers: readonly WorkerRecord[]): Promise<Set<string>> {
    const removed = new Set<string>();
    for (const worker of workers) {
      if (worker.workerId === this.deps.workerId) continue;
      const heartbeat = this.workers.deadHeartbeat(worker.workerId);
      if (heartbeat === undefined) continue;
      const result = await this.deps.store.removeDeadWorker(this.deps.namespace, worker.workerId, heartbeat);
      if (result.status === 'applied') {
        removed.add(worker.workerId);
        this.logger.info({ deadWorkerId: worker.workerId }, 'removed a dead worker; its leases are free to take');
      }
    }
    return removed;
  }

  private async syncShards(): Promise<void> {
    const { store, kinesis, namespace, options } = this.deps;
    const [shards, snapshot] = await Promise.all([
      listShards(kinesis, options.streamName, { signal: this.controller.signal }),
      store.readNamespace(namespace),
    ]);
    const known = new Set(snapshot.leases.map((lease) => lease.leaseKey));
    for (const shard of shards) {
      if (known.has(shard.shardId)) continue;
      // A child of a shard this application was already reading continues where its parent
      // ended: from its first record, whatever the initial position says.
      const continuesParent = shard.parentShardIds.some((parent) => known.has(parent));
      const created = await store.createLease(namespace, {
        shardId: shard.shardId,
        checkpoint: continuesParent ? { type: 'TRIM_HORIZON' } : options.initialPosition,
        parentShardIds: shard.parentShardIds,
        hashKeyRange: shard.hashKeyRange,
      });
      if (created.status === 'applied') this.logger.info({ shardId: shard.shardId }, 'created lease');
    }
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

/** Leases that may be processed now: not finished, and every parent finished (or gone). */
export function eligibleLeases(leases: readonly Lease[]): Lease[] {
  const finished = new Map(leases.map((lease) => [lease.shardId, lease.checkpoint.type === 'SHARD_END']));
  return leases.filter(
    (lease) => lease.checkpoint.type !== 'SHARD_END' && lease.parentShardIds.every((parent) => finished.get(parent) ?? true),
  );
}
