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
import { planWithinStreams } from './eligible-plan.js';
import { EVERYONE, StreamEligibility, type PlannerStreams } from './stream-eligibility.js';

/** A planner of a single-stream namespace: every lease is of its stream. */
const EVERY_STREAM: PlannerStreams = { consumes: () => true, selects: () => true };

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
  /**
   * The planner's streams. A lease is planned when some live worker consumes its stream, by the
   * stream choice its record states (see `StreamEligibility`), and only to such a worker; leases
   * nobody consumes are left alone. Default: every worker consumes every lease.
   */
  readonly streams?: PlannerStreams;
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
  const records = snapshot.workers.filter(
    (worker) => worker.status === 'active' && !exclude?.has(worker.workerId) && isAlive(worker.workerId),
  );
  const workers = records.map((worker) => worker.workerId);
  const streams = new StreamEligibility(records, input.streams ?? EVERY_STREAM);
  const eligible = eligibleLeases(snapshot.leases, new Set(snapshot.malformed?.map((row) => row.leaseKey)), (lease) =>
    streams.anyone(lease),
  );
  const liveOwner = (lease: Lease): string | undefined => {
    const owner = lease.leaseOwner;
    if (owner === undefined || input.deadOwners?.has(owner)) return undefined;
    if (listed.has(owner)) return isAlive(owner) ? owner : undefined;
    return ownerships.isUnchangedForLeaseDuration(lease) ? undefined : owner;
  };
  const planned = eligible.map((lease) => ({ leaseKey: lease.leaseKey, owner: liveOwner(lease) }));
  const leases = new Map(eligible.map((lease) => [lease.leaseKey, lease]));
  const eligibleFor = (leaseKey: string) => streams.eligible(leases.get(leaseKey)!);
  const restricted = planned.some((lease) => eligibleFor(lease.leaseKey) !== EVERYONE);
  const plan = restricted
    ? planWithinStreams(planned, workers, eligibleFor, input.maxLeasesPerWorker)
    : planAssignments({
        leases: planned,
        workers,
        maxLeasesPerWorker: input.maxLeasesPerWorker,
        ...(input.workerLoads && input.workerLoads.size > 0 ? { workerLoads: input.workerLoads } : {}),
      });
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
