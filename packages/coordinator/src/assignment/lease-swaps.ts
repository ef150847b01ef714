/** An overloaded worker trades one busy lease for one quiet lease of a lightly loaded worker. */
export interface LeaseSwap {
  readonly overloaded: string;
  readonly partner: string;
  /** Moves from `overloaded` to `partner`. */
  readonly leaseFromOverloaded: string;
  /** Moves from `partner` to `overloaded`. */
  readonly leaseFromPartner: string;
}

export interface SwapPlanningInput {
  /** Live workers, sorted. */
  readonly workers: readonly string[];
  /** Leases each worker holds now and keeps through the plan; swapped leases are removed. */
  readonly kept: Map<string, string[]>;
  /** Projected score per worker after the plan's other moves; updated for each swap. */
  readonly projected: Map<string, number>;
  /** Records/s of a lease. */
  readonly rate: (leaseKey: string) => number;
  /** Score added by one record/s. */
  readonly unit: number;
  readonly overloadRatio: number;
}

/**
 * Relief for workers that count balancing leaves overloaded. A worker is overloaded when its
 * projected score exceeds `overloadRatio × max(mean projected score, 1)`; the floor of 1 keeps a
 * quiet fleet (every worker below the records and lag floors) from swapping over noise.
 *
 * Most overloaded first, each overloaded worker swaps at most once per plan, with a partner below
 * the mean that takes part in no other swap (partners tried from the least loaded). The partner
 * gives its quietest kept lease; the overloaded worker gives the kept lease that brings the two
 * scores closest together, and only if the move strictly lowers the higher of the two (so equal
 * lease rates never swap, and a swap never makes the partner busier than the overloaded worker
 * was). Leases the plan already moves are never swapped. Every swap is two handoffs and leaves
 * both workers' counts unchanged.
 */
export function planSwaps(input: SwapPlanningInput): { swaps: LeaseSwap[]; overloaded: string[] } {
  const { workers, kept, projected, rate, unit } = input;
  if (workers.length < 2 || !(unit > 0)) return { swaps: [], overloaded: [] };
  let sum = 0;
  for (const worker of workers) sum += projected.get(worker)!;
  const mean = sum / workers.length;
  const threshold = input.overloadRatio * Math.max(mean, 1);
  const score = (worker: string): number => projected.get(worker)!;
  const byScore = (descending: boolean) => (a: string, b: string) =>
    (descending ? score(b) - score(a) : score(a) - score(b)) || compare(a, b);

  const overloaded = workers.filter((worker) => score(worker) > threshold).sort(byScore(true));
  const busy = new Set(overloaded);
  const partners = workers.filter((worker) => !busy.has(worker) && score(worker) < mean).sort(byScore(false));
  const used = new Set<string>();
  const swaps: LeaseSwap[] = [];

  for (const worker of overloaded) {
    for (const partner of partners) {
      if (used.has(partner)) continue;
      const swap = bestSwap(worker, partner, input);
      if (swap === undefined) continue;
      const delta = (rate(swap.leaseFromOverloaded) - rate(swap.leaseFromPartner)) * unit;
      projected.set(worker, score(worker) - delta);
      projected.set(partner, score(partner) + delta);
      remove(kept.get(worker)!, swap.leaseFromOverloaded);
      remove(kept.get(partner)!, swap.leaseFromPartner);
      used.add(partner);
      swaps.push(swap);
      break;
    }
  }
  return { swaps, overloaded };
}

function bestSwap(worker: string, partner: string, input: SwapPlanningInput): LeaseSwap | undefined {
  const { kept, projected, rate, unit } = input;
  const quiet = quietest(kept.get(partner) ?? [], rate);
  if (quiet === undefined) return undefined;
  const gap = projected.get(worker)! - projected.get(partner)!;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const leaseKey of kept.get(worker) ?? []) {
    const delta = (rate(leaseKey) - rate(quiet)) * unit;
    // The higher of the two scores after the swap, max(score - delta, partner + delta), must drop.
    if (!(delta > 0 && delta < gap)) continue;
    const distance = Math.abs(gap - 2 * delta);
    if (distance < bestDistance || (distance === bestDistance && best !== undefined && leaseKey < best)) {
      best = leaseKey;
      bestDistance = distance;
    }
  }
  return best === undefined ? undefined : { overloaded: worker, partner, leaseFromOverloaded: best, leaseFromPartner: quiet };
}

function quietest(leaseKeys: readonly string[], rate: (leaseKey: string) => number): string | undefined {
  let best: string | undefined;
  for (const leaseKey of leaseKeys) {
    if (best === undefined || rate(leaseKey) < rate(best) || (rate(leaseKey) === rate(best) && leaseKey < best)) best = leaseKey;
  }
  return best;
}

function remove(leaseKeys: string[], leaseKey: string): void {
  const index = leaseKeys.indexOf(leaseKey);
  if (index >= 0) leaseKeys.splice(index, 1);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
