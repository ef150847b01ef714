import type { AssignmentPlan, PlanInput } from '../src/index.js';

/** Helpers shared by the planner's tests. */

export function applyPlan(input: PlanInput, plan: AssignmentPlan): Map<string, string | undefined> {
  const owners = new Map(input.leases.map((lease) => [lease.leaseKey, lease.owner]));
  for (const move of plan.moves) owners.set(move.leaseKey, move.to);
  return owners;
}

export function holdings(owners: ReadonlyMap<string, string | undefined>, workers: readonly string[]): Map<string, number> {
  const counts = new Map(workers.map((id) => [id, 0]));
  for (const owner of owners.values()) {
    if (owner !== undefined && counts.has(owner)) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return counts;
}

export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items];
  let state = seed >>> 0 || 1;
  for (let i = copy.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    const j = state % (i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
