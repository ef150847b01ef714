import type { AssignmentPlan, LeaseMove, PlannerLease } from '@shoal/coordinator';
import { EVERYONE } from './stream-eligibility.js';

/** The workers that may run a lease, or `everyone`. */
export type EligibleWorkers = (leaseKey: string) => ReadonlySet<string> | typeof EVERYONE;

/**
 * Count-balancing assignment when not every worker may run every lease (workers of one fleet
 * consume different streams while a deploy changes them). Every lease ends with a worker that
 * may run it, as evenly as the restrictions allow, within `cap`, moving as little as possible:
 *
 * 1. A lease stays with its owner when the owner may run it (up to `cap`).
 * 2. Every other lease, those with the fewest candidates first, goes to the candidate with the
 *    fewest leases; when every candidate is full, one of them first passes a lease of its own
 *    to a worker with room that may run it.
 * 3. While a worker holds two leases more than another that may run one of them, one moves,
 *    preferring a lease that moves anyway.
 *
 * A balanced assignment plans no move, so the plan is stable. Deterministic: workers and leases
 * are taken in order of their ids. Load reports are not used here; the fleet plans by load again
 * once every worker consumes the same streams.
 */
export function planWithinStreams(
  leases: readonly PlannerLease[],
  workers: readonly string[],
  eligible: EligibleWorkers,
  cap: number = Number.POSITIVE_INFINITY,
): AssignmentPlan {
  const assignment = new Assignment(leases, [...new Set(workers)].sort(compare), eligible, cap);
  assignment.keepOwners();
  assignment.placeTheRest();
  assignment.evenOut();
  return { moves: assignment.moves(), targets: assignment.counts };
}

class Assignment {
  readonly counts: Map<string, number>;
  private readonly assignee = new Map<string, string>();
  private readonly held: Map<string, Set<string>>;
  private readonly sorted: readonly PlannerLease[];
  private readonly owners: ReadonlyMap<string, string | undefined>;
  private readonly candidatesOf = new Map<ReadonlySet<string> | typeof EVERYONE, readonly string[]>();

  constructor(
    private readonly leases: readonly PlannerLease[],
    private readonly workers: readonly string[],
    private readonly eligible: EligibleWorkers,
    private readonly cap: number,
  ) {
    this.counts = new Map(workers.map((worker) => [worker, 0]));
    this.held = new Map(workers.map((worker) => [worker, new Set()]));
    this.sorted = [...leases].sort((a, b) => compare(a.leaseKey, b.leaseKey));
    this.owners = new Map(leases.map((lease) => [lease.leaseKey, lease.owner]));
  }

  keepOwners(): void {
    for (const lease of this.sorted) {
      if (lease.owner !== undefined && this.mayRun(lease.leaseKey, lease.owner) && this.hasRoom(lease.owner)) {
        this.assign(lease.leaseKey, lease.owner);
      }
    }
  }

  placeTheRest(): void {
    const unplaced = this.sorted
      .filter((lease) => !this.assignee.has(lease.leaseKey))
      .map((lease) => ({ lease, candidates: this.candidates(lease.leaseKey) }))
      .sort((a, b) => a.candidates.length - b.candidates.length || compare(a.lease.leaseKey, b.lease.leaseKey));
    for (const { lease, candidates } of unplaced) {
      const withRoom = candidates.filter((worker) => this.hasRoom(worker));
      const target = withRoom.length > 0 ? this.leastLoaded(withRoom) : this.makeRoom(candidates);
      if (target !== undefined) this.assign(lease.leaseKey, target);
    }
  }

  evenOut(): void {
    // Each step narrows the spread of counts, so this ends; the bound only guards the unexpected.
    for (let step = 0; step < this.leases.length; step += 1) {
      if (!this.moveOneTowardsBalance()) return;
    }
  }

  moves(): LeaseMove[] {
    const moves: LeaseMove[] = [];
    for (const lease of this.sorted) {
      const to = this.assignee.get(lease.leaseKey);
      if (to === undefined || to === lease.owner) continue;
      moves.push({ leaseKey: lease.leaseKey, from: lease.owner, to, kind: lease.owner === undefined ? 'take' : 'handoff' });
    }
    return moves;
  }

  /** Moves one lease from a worker holding two more than another that may run it. */
  private moveOneTowardsBalance(): boolean {
    const byCount = [...this.workers].sort((a, b) => this.count(b) - this.count(a) || compare(a, b));
    const ascending = [...byCount].reverse();
    for (const donor of byCount) {
      if (this.count(donor) - this.count(ascending[0]!) < 2) return false;
      for (const receiver of ascending) {
        if (this.count(donor) - this.count(receiver) < 2) break;
        const movable = [...this.held.get(donor)!].filter((leaseKey) => this.mayRun(leaseKey, receiver)).sort(compare);
        const leaseKey = movable.find((key) => this.ownerOf(key) !== donor) ?? movable[0];
        if (leaseKey === undefined) continue;
        this.assign(leaseKey, receiver);
        return true;
      }
    }
    return false;
  }

  /** Every candidate is full: one passes a lease of its own to a worker with room that may run it. */
  private makeRoom(candidates: readonly string[]): string | undefined {
    for (const full of candidates) {
      for (const leaseKey of [...this.held.get(full)!].sort(compare)) {
        const elsewhere = this.candidates(leaseKey).filter((worker) => worker !== full && this.hasRoom(worker));
        if (elsewhere.length === 0) continue;
        this.assign(leaseKey, this.leastLoaded(elsewhere));
        return full;
      }
    }
    return undefined;
  }

  private assign(leaseKey: string, worker: string): void {
    const previous = this.assignee.get(leaseKey);
    if (previous !== undefined) {
      this.held.get(previous)!.delete(leaseKey);
      this.counts.set(previous, this.count(previous) - 1);
    }
    this.assignee.set(leaseKey, worker);
    this.held.get(worker)!.add(leaseKey);
    this.counts.set(worker, this.count(worker) + 1);
  }

  /** The workers that may run the lease; leases of one stream share one answer. */
  private candidates(leaseKey: string): readonly string[] {
    const allowed = this.eligible(leaseKey);
    let workers = this.candidatesOf.get(allowed);
    if (!workers) {
      workers = allowed === EVERYONE ? this.workers : this.workers.filter((worker) => allowed.has(worker));
      this.candidatesOf.set(allowed, workers);
    }
    return workers;
  }

  private leastLoaded(workers: readonly string[]): string {
    return workers.reduce((best, worker) => (this.count(worker) < this.count(best) ? worker : best));
  }

  private mayRun(leaseKey: string, worker: string): boolean {
    if (!this.counts.has(worker)) return false;
    const allowed = this.eligible(leaseKey);
    return allowed === EVERYONE || allowed.has(worker);
  }

  private hasRoom(worker: string): boolean {
    return this.count(worker) < this.cap;
  }

  private count(worker: string): number {
    return this.counts.get(worker) ?? 0;
  }

  private ownerOf(leaseKey: string): string | undefined {
    return this.owners.get(leaseKey);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
