import type { AssignmentPlan, LeaseMove, PlannerLease } from '@shoal/coordinator';
import { EVERYONE } from './stream-eligibility.js';

/** The workers that may run a lease, or `everyone`. */
export type EligibleWorkers = (leaseKey: string) => ReadonlySet<string> | typeof EVERYONE;

/**
 * Corrects a count-balanced plan so that every lease ends with a worker that may run it. A lease
 * planned for (or left with) a worker that may not goes to the worker, among those that may, with
 * the fewest leases once the plan is carried out (below `cap`), or stays where it is when none is
 * left; the worker that lost it gets in exchange a lease it may run from the one that gained,
 * preferring one that was moving anyway. While every worker may run every lease (always, outside
 * a deploy that changes which streams workers consume) the plan is returned as it is.
 *
 * The plan is stable: a lease the planner would move to a worker that may not run it is kept
 * where it may run, not handed around.
 */
export function keepToEligibleWorkers(
  plan: AssignmentPlan,
  leases: readonly PlannerLease[],
  eligible: EligibleWorkers,
  cap: number = Number.POSITIVE_INFINITY,
): AssignmentPlan {
  const restricted = leases.filter((lease) => eligible(lease.leaseKey) !== EVERYONE).sort((a, b) => compare(a.leaseKey, b.leaseKey));
  if (restricted.length === 0) return plan;
  const assignment = new Assignment(plan, leases);
  for (const lease of restricted) {
    const allowed = eligible(lease.leaseKey) as ReadonlySet<string>;
    const assignee = assignment.assigneeOf(lease.leaseKey);
    if (assignee !== undefined && allowed.has(assignee)) continue;
    const best = leastLoaded(allowed, assignment.counts, cap);
    // Nobody may take it: it stays with its owner (who gives it back if it may not run it).
    if (best === undefined) assignment.assign(lease.leaseKey, lease.owner);
    else {
      assignment.assign(lease.leaseKey, best);
      if (assignee !== undefined) assignment.evenOut(assignee, best, lease.leaseKey, eligible);
    }
  }
  return { moves: assignment.moves(), targets: assignment.counts };
}

/** Where each lease goes once a plan is carried out, and the moves that take it there. */
class Assignment {
  readonly counts: Map<string, number>;
  private readonly owners: Map<string, string | undefined>;
  private readonly planned: Map<string, LeaseMove>;
  private readonly byWorker = new Map<string, Set<string>>();

  constructor(plan: AssignmentPlan, leases: readonly PlannerLease[]) {
    this.counts = new Map(plan.targets);
    this.owners = new Map(leases.map((lease) => [lease.leaseKey, lease.owner]));
    this.planned = new Map(plan.moves.map((move) => [move.leaseKey, move]));
    for (const lease of leases) {
      const assignee = this.assigneeOf(lease.leaseKey);
      if (assignee !== undefined) this.held(assignee).add(lease.leaseKey);
    }
  }

  assigneeOf(leaseKey: string): string | undefined {
    return this.planned.get(leaseKey)?.to ?? this.owners.get(leaseKey);
  }

  /** Plans the lease for `to` (its owner, or undefined: no move at all). */
  assign(leaseKey: string, to: string | undefined): void {
    const from = this.assigneeOf(leaseKey);
    if (from === to) return;
    if (from !== undefined) {
      this.held(from).delete(leaseKey);
      if (this.counts.has(from)) this.counts.set(from, Math.max(0, this.counts.get(from)! - 1));
    }
    if (to !== undefined) {
      this.held(to).add(leaseKey);
      if (this.counts.has(to)) this.counts.set(to, this.counts.get(to)! + 1);
    }
    const owner = this.owners.get(leaseKey);
    const previous = this.planned.get(leaseKey);
    if (to === undefined || to === owner) this.planned.delete(leaseKey);
    else if (owner !== undefined) this.planned.set(leaseKey, { leaseKey, from: owner, to, kind: 'handoff' });
    else this.planned.set(leaseKey, { leaseKey, from: previous?.from, to, kind: 'take' });
  }

  /**
   * `gainer` took a lease `loser` may not run: `loser` gets one of `gainer`'s leases it may run
   * instead, one planned to move to `gainer` if any (no extra move), otherwise one `gainer` owns,
   * if that evens the counts out.
   */
  evenOut(loser: string, gainer: string, taken: string, eligible: EligibleWorkers): void {
    if (!this.counts.has(loser)) return;
    const mayGo = [...this.held(gainer)].filter((leaseKey) => leaseKey !== taken && mayRun(eligible(leaseKey), loser)).sort(compare);
    const moving = mayGo.find((leaseKey) => this.planned.has(leaseKey));
    if (moving !== undefined) return this.assign(moving, loser);
    if (mayGo.length > 0 && this.counts.get(gainer)! - this.counts.get(loser)! >= 2) this.assign(mayGo[0]!, loser);
  }

  moves(): LeaseMove[] {
    return [...this.planned.values()];
  }

  private held(worker: string): Set<string> {
    let leases = this.byWorker.get(worker);
    if (!leases) this.byWorker.set(worker, (leases = new Set()));
    return leases;
  }
}

function mayRun(allowed: ReadonlySet<string> | typeof EVERYONE, worker: string): boolean {
  return allowed === EVERYONE || allowed.has(worker);
}

function leastLoaded(workers: ReadonlySet<string>, counts: ReadonlyMap<string, number>, cap: number): string | undefined {
  let best: string | undefined;
  for (const worker of [...workers].sort(compare)) {
    const count = counts.get(worker);
    // Only workers the plan spreads leases over have a count.
    if (count === undefined || count >= cap) continue;
    if (best === undefined || count < counts.get(best)!) best = worker;
  }
  return best;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
