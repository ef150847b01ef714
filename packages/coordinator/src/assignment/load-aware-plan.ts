import type { AssignmentPlan, LeaseMove, PlanInput, PlannerLease } from './plan-assignments.js';
import { planSwaps, type LeaseSwap } from './lease-swaps.js';
import { choosePlanMode, type FleetLoad } from './worker-load.js';

/** A load-aware plan, with what the planner did beyond count balancing. */
export interface LoadAwarePlan extends AssignmentPlan {
  /** Swaps that relieve overloaded workers; each adds two handoffs to `moves` (listed last). */
  readonly swaps: readonly LeaseSwap[];
  /**
   * Workers whose projected score after the count-balancing moves exceeds `overloadRatio` times
   * the fleet mean (counted as at least 1). Each takes part in at most one swap.
   */
  readonly overloaded: readonly string[];
  /** Every live worker's load score once the plan is carried out, as the planner projects it. */
  readonly projectedScores: ReadonlyMap<string, number>;
}

interface PoolEntry {
  readonly leaseKey: string;
  readonly from: string | undefined;
  readonly kind: LeaseMove['kind'];
  readonly throughput: number;
  /** No live owner: the lease must move whatever happens to the surplus leases. */
  readonly mustMove: boolean;
}

/**
 * Load-aware assignment, or `undefined` when the input does not qualify (see `choosePlanMode`:
 * a live worker without a valid, fresh load), in which case `planAssignments` balances by count.
 *
 * Guarantees, on top of the count planner's (every worker ends with ⌊N/W⌋ or ⌈N/W⌉ leases capped
 * by `maxLeasesPerWorker`; every lease without a live owner is assigned; deterministic):
 * - the count-balancing moves are exactly as many as the count planner makes: load decides only
 *   which workers get the ⌈N/W⌉ slots (preferring the least loaded among those above ⌊N/W⌋),
 *   which surplus leases a worker sheds and which receiver takes each lease;
 * - beyond those, at most one swap (two handoffs) per overloaded worker, so
 *   `moves.length === countModeMoves + 2 × swaps.length`.
 *
 * Choices, in order:
 * 1. Targets: ⌊N/W⌋ each; the N mod W extra slots go first to workers holding more than ⌊N/W⌋
 *    (so nothing moves needlessly), among them and then among the rest to the lowest load score.
 * 2. Shedding: a worker above its target sheds, one at a time, the lease whose throughput brings
 *    its projected score closest to the fleet's projected mean. A loaded worker thus sheds its
 *    busiest leases; one at or below the mean sheds its quietest (the cheapest to hand off).
 * 3. Receiving: the busiest leases go first, each to the receiver with the lowest projected score
 *    that still has room. When `maxLeasesPerWorker` leaves no room for all, leases without a live
 *    owner go before surplus ones (as in count mode).
 * 4. Swaps (unless `allowSwaps: false`): see {@link planSwaps}.
 *
 * A lease's throughput is `leaseThroughput.get(leaseKey)` when given; otherwise its owner's
 * records/s not explained by its other leases, split evenly; a lease without a live owner
 * counts as 0.
 */
export function planLoadAwareAssignments(input: PlanInput): LoadAwarePlan | undefined {
  const mode = choosePlanMode(input.workers, input.workerLoads, input.loadOptions);
  if (mode.mode === 'count') return undefined;
  return planWithFleetLoad(input, mode.fleet);
}

function planWithFleetLoad(input: PlanInput, fleet: FleetLoad): LoadAwarePlan {
  const { workers } = fleet;
  const cap = input.maxLeasesPerWorker ?? Number.POSITIVE_INFINITY;
  const unit = fleet.scorePerRecordPerSecond;

  const held = new Map<string, string[]>(workers.map((worker) => [worker, []]));
  const unowned: PlannerLease[] = [];
  const leases = [...input.leases].sort((a, b) => compare(a.leaseKey, b.leaseKey));
  for (const lease of leases) {
    const owned = lease.owner === undefined ? undefined : held.get(lease.owner);
    if (owned) owned.push(lease.leaseKey);
    else unowned.push(lease);
  }
  const throughput = estimateThroughput(leases, held, fleet, input.leaseThroughput);
  const rate = (leaseKey: string): number => throughput.get(leaseKey) ?? 0;

  const projected = new Map(fleet.scores);
  let incoming = 0;
  for (const lease of unowned) incoming += rate(lease.leaseKey);
  let scoreSum = 0;
  for (const worker of workers) scoreSum += fleet.scores.get(worker)!;
  const meanAfter = (scoreSum + incoming * unit) / workers.length;

  const targets = loadAwareShares(workers, held, input.leases.length, cap, fleet.scores);

  const pool: PoolEntry[] = unowned.map((lease) => ({
    leaseKey: lease.leaseKey,
    from: lease.owner,
    kind: lease.owner === undefined ? 'take' : 'handoff',
    throughput: rate(lease.leaseKey),
    mustMove: true,
  }));
  const kept = new Map<string, string[]>();
  for (const worker of workers) {
    const leasesOfWorker = held.get(worker)!;
    const surplus = leasesOfWorker.length - targets.get(worker)!;
    if (surplus <= 0) {
      kept.set(worker, [...leasesOfWorker]);
      continue;
    }
    const { shed, rest, score } = shedLeases(leasesOfWorker, surplus, rate, projected.get(worker)!, meanAfter, unit);
    projected.set(worker, score);
    kept.set(worker, rest);
    for (const leaseKey of shed) {
      pool.push({ leaseKey, from: worker, kind: 'handoff', throughput: rate(leaseKey), mustMove: false });
    }
  }

  // Receivers are scanned once per pooled lease: plain arrays keep 10,000 leases × 100 workers fast.
  const room = workers.map((worker) => Math.max(0, targets.get(worker)! - Math.min(held.get(worker)!.length, targets.get(worker)!)));
  const scoreOf = workers.map((worker) => projected.get(worker)!);
  const totalRoom = room.reduce((sum, free) => sum + free, 0);
  const scarce = pool.length > totalRoom;
  pool.sort(
    (a, b) => (scarce ? Number(b.mustMove) - Number(a.mustMove) : 0) || b.throughput - a.throughput || compare(a.leaseKey, b.leaseKey),
  );

  const moves: LeaseMove[] = [];
  for (const entry of pool) {
    const to = leastLoadedWithRoom(room, scoreOf);
    if (to < 0) {
      // No room left anywhere (maxLeasesPerWorker): a surplus lease stays with its owner.
      const owner = entry.from === undefined ? -1 : workers.indexOf(entry.from);
      if (owner >= 0) {
        kept.get(entry.from!)!.push(entry.leaseKey);
        scoreOf[owner]! += entry.throughput * unit;
      }
      continue;
    }
    moves.push({ leaseKey: entry.leaseKey, from: entry.from, to: workers[to]!, kind: entry.kind });
    room[to]! -= 1;
    scoreOf[to]! += entry.throughput * unit;
  }
  workers.forEach((worker, index) => projected.set(worker, scoreOf[index]!));

  const relief = fleet.options.allowSwaps
    ? planSwaps({ workers, kept, projected, rate, unit, overloadRatio: fleet.options.overloadRatio })
    : { swaps: [], overloaded: [] };
  for (const swap of relief.swaps) {
    moves.push({ leaseKey: swap.leaseFromOverloaded, from: swap.overloaded, to: swap.partner, kind: 'handoff' });
    moves.push({ leaseKey: swap.leaseFromPartner, from: swap.partner, to: swap.overloaded, kind: 'handoff' });
  }
  return { moves, targets, swaps: relief.swaps, overloaded: relief.overloaded, projectedScores: projected };
}

/**
 * ⌊N/W⌋ for everyone plus one for N mod W workers: first those holding more than ⌊N/W⌋ (each of
 * them keeps one lease more, so the count of moves stays the minimum), by lowest load score,
 * then the rest by lowest load score. Capped by `maxLeasesPerWorker`.
 */
function loadAwareShares(
  workers: readonly string[],
  held: ReadonlyMap<string, readonly string[]>,
  leaseCount: number,
  cap: number,
  scores: ReadonlyMap<string, number>,
): Map<string, number> {
  const base = Math.floor(leaseCount / workers.length);
  const extra = leaseCount % workers.length;
  const above = (worker: string): number => ((held.get(worker)?.length ?? 0) > base ? 1 : 0);
  const ranked = [...workers].sort((a, b) => above(b) - above(a) || scores.get(a)! - scores.get(b)! || compare(a, b));
  const rank = new Map(ranked.map((worker, index) => [worker, index]));
  return new Map(workers.map((worker) => [worker, Math.min(cap, base + (rank.get(worker)! < extra ? 1 : 0))]));
}

/**
 * Picks `count` of `leaseKeys` to shed, one at a time, each the lease whose throughput is closest
 * to what would bring `score` down to `targetScore` (the quieter one when two are equally close).
 */
function shedLeases(
  leaseKeys: readonly string[],
  count: number,
  rate: (leaseKey: string) => number,
  score: number,
  targetScore: number,
  unit: number,
): { shed: string[]; rest: string[]; score: number } {
  const byRate = leaseKeys
    .map((leaseKey) => ({ leaseKey, rate: rate(leaseKey) }))
    .sort((a, b) => a.rate - b.rate || compare(a.leaseKey, b.leaseKey));
  const shed: string[] = [];
  let current = score;
  // byRate[first..] are the leases still held; the quietest are taken by moving `first`.
  let first = 0;
  while (shed.length < count && first < byRate.length) {
    const wanted = (current - targetScore) / unit;
    if (wanted <= byRate[first]!.rate) {
      // Shedding only lowers the score, so from here on the quietest lease is always the closest.
      const quietest = byRate.slice(first, first + count - shed.length);
      for (const entry of quietest) {
        shed.push(entry.leaseKey);
        current -= entry.rate * unit;
      }
      first += quietest.length;
      break;
    }
    const index = closestIndex(byRate, first, wanted);
    const [entry] = index === byRate.length - 1 ? [byRate.pop()!] : byRate.splice(index, 1);
    shed.push(entry!.leaseKey);
    current -= entry!.rate * unit;
  }
  return { shed, rest: byRate.slice(first).map((entry) => entry.leaseKey), score: current };
}

/** Index in `sorted[from..]` (ascending by rate) of the rate closest to `wanted`, the quieter on a tie. */
function closestIndex(sorted: readonly { rate: number }[], from: number, wanted: number): number {
  let low = from;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]!.rate < wanted) low = middle + 1;
    else high = middle;
  }
  if (low === from) return from;
  if (low === sorted.length) return low - 1;
  return sorted[low]!.rate - wanted < wanted - sorted[low - 1]!.rate ? low : low - 1;
}

/** Index of the worker with room and the lowest projected score (the smallest id on ties), or -1. */
function leastLoadedWithRoom(room: readonly number[], scoreOf: readonly number[]): number {
  let best = -1;
  for (let index = 0; index < room.length; index += 1) {
    // Workers are sorted, so a strict comparison keeps the smallest id on ties.
    if (room[index]! > 0 && (best < 0 || scoreOf[index]! < scoreOf[best]!)) best = index;
  }
  return best;
}

/**
 * Records/s per lease: the given figure when valid; otherwise the owner's records/s that its
 * leases with given figures do not explain, split evenly; 0 for a lease without a live owner.
 */
function estimateThroughput(
  leases: readonly PlannerLease[],
  held: ReadonlyMap<string, readonly string[]>,
  fleet: FleetLoad,
  given: ReadonlyMap<string, number> | undefined,
): Map<string, number> {
  const known = (leaseKey: string): number | undefined => {
    const value = given?.get(leaseKey);
    return value !== undefined && Number.isFinite(value) && value >= 0 ? value : undefined;
  };
  const share = new Map<string, number>();
  for (const [worker, leaseKeys] of held) {
    let explained = 0;
    let unknown = 0;
    for (const leaseKey of leaseKeys) {
      const value = known(leaseKey);
      if (value === undefined) unknown += 1;
      else explained += value;
    }
    const reported = fleet.loads.get(worker)!.recordsPerSecond;
    share.set(worker, unknown === 0 ? 0 : Math.max(0, reported - explained) / unknown);
  }
  const throughput = new Map<string, number>();
  for (const lease of leases) {
    const owner = lease.owner === undefined ? undefined : share.get(lease.owner);
    throughput.set(lease.leaseKey, known(lease.leaseKey) ?? owner ?? 0);
  }
  return throughput;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
