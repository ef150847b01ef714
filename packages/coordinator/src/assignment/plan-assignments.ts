import { planLoadAwareAssignments } from './load-aware-plan.js';
import type { LoadAwarePlanOptions, WorkerLoad } from './worker-load.js';

/** A lease as the planner sees it: who owns it now, if that owner is still a live worker. */
export interface PlannerLease {
  readonly leaseKey: string;
  /** The current owner, or undefined when nobody owns it or the owner is dead. */
  readonly owner: string | undefined;
}

export interface PlanInput {
  /** Leases that may be processed now (not finished, parents done). */
  readonly leases: readonly PlannerLease[];
  /** Live workers that accept leases. A lease owned by any other worker is moved off it. */
  readonly workers: readonly string[];
  /** Upper bound per worker; leases beyond every worker's bound stay unassigned. */
  readonly maxLeasesPerWorker?: number;
  /**
   * Each live worker's latest load. With a valid, fresh load for every live worker the plan is
   * load-aware (see `planLoadAwareAssignments`); otherwise, or when absent, count-balanced.
   */
  readonly workerLoads?: ReadonlyMap<string, WorkerLoad>;
  /** Records/s per lease key, when known; refines which leases a load-aware plan moves. */
  readonly leaseThroughput?: ReadonlyMap<string, number>;
  /** Tuning of load-aware planning (staleness, overload threshold, swaps). */
  readonly loadOptions?: LoadAwarePlanOptions;
}

/**
 * `take`: the lease has no live owner and `to` may acquire it.
 * `handoff`: a live worker (`from`) holds it and should hand it to `to` after draining.
 */
export interface LeaseMove {
  readonly leaseKey: string;
  readonly from: string | undefined;
  readonly to: string;
  readonly kind: 'take' | 'handoff';
}

export interface AssignmentPlan {
  readonly moves: readonly LeaseMove[];
  /** How many leases each worker holds once the plan is carried out. */
  readonly targets: ReadonlyMap<string, number>;
}

/**
 * Count-balancing assignment: every worker ends with ⌊N/W⌋ or ⌈N/W⌉ leases (capped by
 * `maxLeasesPerWorker`), moving as few leases as possible. The extra ⌈N/W⌉ slots go to the
 * workers that already hold the most, so a balanced fleet moves nothing, and only surplus
 * leases and leases without a live owner move. Deterministic: every worker that plans from the
 * same snapshot gets the same plan.
 *
 * With `workerLoads` known (valid and fresh) for every live worker, the same counts and the same
 * number of count-balancing moves, but load picks which leases move where, and an overloaded
 * worker may swap one lease (see `planLoadAwareAssignments`). A missing or stale load falls
 * back to count balancing.
 */
export function planAssignments(input: PlanInput): AssignmentPlan {
  if (input.workerLoads !== undefined) {
    const loadAware = planLoadAwareAssignments(input);
    if (loadAware !== undefined) return { moves: loadAware.moves, targets: loadAware.targets };
  }
  return planByCount(input);
}

function planByCount(input: PlanInput): AssignmentPlan {
  const workers = [...new Set(input.workers)].sort();
  if (workers.length === 0) return { moves: [], targets: new Map() };
  const cap = input.maxLeasesPerWorker ?? Number.POSITIVE_INFINITY;

  const held = new Map<string, string[]>(workers.map((worker) => [worker, []]));
  const unowned: PlannerLease[] = [];
  for (const lease of [...input.leases].sort(byLeaseKey)) {
    const owned = lease.owner === undefined ? undefined : held.get(lease.owner);
    if (owned) owned.push(lease.leaseKey);
    else unowned.push(lease);
  }

  const targets = fairShares(workers, held, input.leases.length, cap);

  const pool: { leaseKey: string; from: string | undefined; kind: LeaseMove['kind'] }[] = unowned.map((lease) => ({
    leaseKey: lease.leaseKey,
    from: lease.owner,
    kind: lease.owner === undefined ? 'take' : 'handoff',
  }));
  for (const worker of workers) {
    const leases = held.get(worker) ?? [];
    const surplus = leases.length - (targets.get(worker) ?? 0);
    for (const leaseKey of leases.slice(leases.length - Math.max(0, surplus))) {
      pool.push({ leaseKey, from: worker, kind: 'handoff' });
    }
  }

  const moves: LeaseMove[] = [];
  let next = 0;
  for (const worker of workers) {
    let count = Math.min(held.get(worker)?.length ?? 0, targets.get(worker) ?? 0);
    const target = targets.get(worker) ?? 0;
    while (count < target && next < pool.length) {
      const lease = pool[next++]!;
      moves.push({ leaseKey: lease.leaseKey, from: lease.from, to: worker, kind: lease.kind });
      count += 1;
    }
  }
  return { moves, targets };
}

/** ⌊N/W⌋ for everyone, plus one for the N mod W workers that already hold the most. */
function fairShares(
  workers: readonly string[],
  held: ReadonlyMap<string, readonly string[]>,
  leaseCount: number,
  cap: number,
): Map<string, number> {
  const base = Math.floor(leaseCount / workers.length);
  const extra = leaseCount % workers.length;
  const byHoldings = [...workers].sort((a, b) => (held.get(b)?.length ?? 0) - (held.get(a)?.length ?? 0) || compare(a, b));
  return new Map(byHoldings.map((worker, rank) => [worker, Math.min(cap, base + (rank < extra ? 1 : 0))]));
}

function byLeaseKey(a: PlannerLease, b: PlannerLease): number {
  return compare(a.leaseKey, b.leaseKey);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
