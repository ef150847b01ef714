import {
  parentLeaseKeys,
  planAssignments,
  type AssignmentPlan,
  type Lease,
  type LeaseMove,
  type NamespaceSnapshot,
  type OwnershipTracker,
  type WorkerLoad,
} from '@shoal/coordinator';

export interface FleetPlanInput {
  readonly snapshot: NamespaceSnapshot;
  /** Whether a listed worker is alive, by whatever evidence the planner has (heartbeats, grants). */
  readonly isAlive: (workerId: string) => boolean;
  /** Workers that may not receive leases even if listed (e.g. the one shutting down). */
  readonly exclude?: ReadonlySet<string>;
  readonly ownerships: OwnershipTracker;
  readonly maxLeasesPerWorker: number | undefined;
  /** Workers known dead (revoked or removed by this planner): their leases are free at once. */
  readonly deadOwners?: ReadonlySet<string>;
  /** Reported loads; the planner balances by load when every live worker has a fresh one. */
  readonly workerLoads?: ReadonlyMap<string, WorkerLoad>;
  /** Whether the application consumes the lease's stream now; leases of other streams are left alone. Default: all. */
  readonly consumes?: (lease: Lease) => boolean;
}

/** A move of the plan, with the epoch of the lease as planned: it applies to that ownership period only. */
export interface FleetMove extends LeaseMove {
  readonly leaseCounter: number;
}

/** `take` moves carry the lease's recorded owner (dead, or undefined) as `from`. */
export interface FleetPlan extends AssignmentPlan {
  readonly moves: readonly FleetMove[];
  /** The active, live workers the plan spreads leases over. */
  readonly workers: readonly string[];
  readonly leases: ReadonlyMap<string, Lease>;
}

/**
 * Plans from one snapshot of the lease table: the eligible leases (not finished, parents done)
 * spread over the active live workers. A lease counts as owned while its owner is a listed live
 * worker, or (owner without a record: it deregistered or was removed) until its ownership has
 * stood still for a lease duration.
 */
export function planFleet(input: FleetPlanInput): FleetPlan {
  const { snapshot, isAlive, exclude, ownerships } = input;
  const listed = new Set(snapshot.workers.map((worker) => worker.workerId));
  const workers = snapshot.workers
    .filter((worker) => worker.status === 'active' && !exclude?.has(worker.workerId) && isAlive(worker.workerId))
    .map((worker) => worker.workerId);
  const eligible = eligibleLeases(snapshot.leases, new Set(snapshot.malformed?.map((row) => row.leaseKey)), input.consumes);
  const liveOwner = (lease: Lease): string | undefined => {
    const owner = lease.leaseOwner;
    if (owner === undefined || input.deadOwners?.has(owner)) return undefined;
    if (listed.has(owner)) return isAlive(owner) ? owner : undefined;
    return ownerships.isUnchangedForLeaseDuration(lease) ? undefined : owner;
  };
  const plan = planAssignments({
    leases: eligible.map((lease) => ({ leaseKey: lease.leaseKey, owner: liveOwner(lease) })),
    workers,
    maxLeasesPerWorker: input.maxLeasesPerWorker,
    ...(input.workerLoads && input.workerLoads.size > 0 ? { workerLoads: input.workerLoads } : {}),
  });
  const leases = new Map(eligible.map((lease) => [lease.leaseKey, lease]));
  // A `take` names the owner it takes from (a dead one, or none), so whoever acts on it can
  // check that the lease is still as planned.
  const moves = plan.moves.map((move) => {
    const lease = leases.get(move.leaseKey)!;
    return { ...move, leaseCounter: lease.leaseCounter, ...(move.kind === 'take' ? { from: lease.leaseOwner } : {}) };
  });
  return { ...plan, moves, workers, leases };
}

/**
 * Leases that may be processed now: of a consumed stream, not finished, and every parent (in the
 * same stream) finished or gone. A parent whose row is unreadable (`unreadable` lease keys)
 * counts as unfinished, so its children wait.
 */
export function eligibleLeases(
  leases: readonly Lease[],
  unreadable: ReadonlySet<string> = new Set(),
  consumes: (lease: Lease) => boolean = () => true,
): Lease[] {
  const finished = new Map(leases.map((lease) => [lease.leaseKey, lease.checkpoint.type === 'SHARD_END']));
  for (const leaseKey of unreadable) finished.set(leaseKey, false);
  return leases.filter(
    (lease) =>
      lease.checkpoint.type !== 'SHARD_END' && consumes(lease) && parentLeaseKeys(lease).every((parent) => finished.get(parent) ?? true),
  );
}
