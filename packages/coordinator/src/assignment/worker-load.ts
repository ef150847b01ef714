import { InvalidArgumentError } from '@shoal/processor-sdk';

/** What a worker reports about how busy it is (see `EventLoopLoadSampler` and `WorkerLoadStore`). */
export interface WorkerLoad {
  /** Event-loop delay beyond the expected timer interval, in milliseconds (a high percentile). */
  readonly eventLoopLagMs: number;
  /** Records the worker's processors handled per second over the last sample window. */
  readonly recordsPerSecond: number;
  /** When the sample was taken, epoch milliseconds. */
  readonly reportedAt: number;
  /** How far behind the tip its most lagging shard was at its last batch, in milliseconds; absent when it processed none. */
  readonly maxLagMs?: number;
}

/** Tuning of the load-aware planner. Every field is optional; defaults are given per field. */
export interface LoadAwarePlanOptions {
  /**
   * The time loads are judged against, epoch milliseconds. Default: the newest `reportedAt`
   * among the live workers' loads, which keeps the planner a pure function of its input.
   */
  readonly nowMs?: number;
  /** A load reported longer ago than this (before `nowMs`) is stale. Default 30 000. */
  readonly maxLoadAgeMs?: number;
  /**
   * A worker is overloaded when its load score exceeds this multiple of the fleet's mean score
   * (the mean counted as at least 1, so a quiet fleet never swaps). Default 1.5; must be > 1.
   */
  readonly overloadRatio?: number;
  /** Event-loop lag below which differences are noise: the lag term's denominator is at least this. Default 20. */
  readonly lagFloorMs?: number;
  /** Records/s below which differences are noise: the records term's denominator is at least this. Default 100. */
  readonly recordsFloorPerSecond?: number;
  /** Whether an overloaded worker may swap one lease with a lightly loaded one. Default true. */
  readonly allowSwaps?: boolean;
}

/** {@link LoadAwarePlanOptions} with every default filled in. */
export interface ResolvedLoadAwarePlanOptions {
  readonly nowMs: number | undefined;
  readonly maxLoadAgeMs: number;
  readonly overloadRatio: number;
  readonly lagFloorMs: number;
  readonly recordsFloorPerSecond: number;
  readonly allowSwaps: boolean;
}

/**
 * The loads of the live fleet, scored. Each worker's score is
 *
 *   `recordsPerSecond / max(mean recordsPerSecond, recordsFloorPerSecond)`
 *   `+ eventLoopLagMs / max(mean eventLoopLagMs, lagFloorMs)`
 *
 * (means over the live workers): a worker doing the fleet's average on both counts scores 2, an
 * idle one 0. Both terms are unitless so neither dominates by its unit; the floors keep a quiet
 * fleet's noise (2 ms of lag against 1 ms) from looking like a difference worth acting on.
 */
export interface FleetLoad {
  /** Live workers, sorted. */
  readonly workers: readonly string[];
  readonly loads: ReadonlyMap<string, WorkerLoad>;
  readonly scores: ReadonlyMap<string, number>;
  readonly meanScore: number;
  /** What one record/s adds to a worker's score: `1 / max(mean records/s, floor)`. */
  readonly scorePerRecordPerSecond: number;
  readonly options: ResolvedLoadAwarePlanOptions;
}

/** Why the planner balanced by count alone. */
export type CountModeReason = 'no-loads' | 'no-workers' | 'missing-load' | 'invalid-load' | 'stale-load';

/** Which mode a plan runs in; `count` names the reason and, when one worker caused it, that worker. */
export type PlanMode =
  | { readonly mode: 'load'; readonly fleet: FleetLoad }
  | { readonly mode: 'count'; readonly reason: CountModeReason; readonly workerId?: string };

const DEFAULT_MAX_LOAD_AGE_MS = 30_000;
const DEFAULT_OVERLOAD_RATIO = 1.5;
const DEFAULT_LAG_FLOOR_MS = 20;
const DEFAULT_RECORDS_FLOOR_PER_SECOND = 100;

/** Fills in and checks {@link LoadAwarePlanOptions}; throws `InvalidArgumentError` naming the field. */
export function resolveLoadAwarePlanOptions(options: LoadAwarePlanOptions = {}): ResolvedLoadAwarePlanOptions {
  const nowMs = options.nowMs;
  if (nowMs !== undefined && !Number.isFinite(nowMs)) invalid('nowMs', nowMs, 'a finite number');
  const overloadRatio = options.overloadRatio ?? DEFAULT_OVERLOAD_RATIO;
  if (!(Number.isFinite(overloadRatio) && overloadRatio > 1)) invalid('overloadRatio', overloadRatio, 'a finite number > 1');
  return {
    nowMs,
    maxLoadAgeMs: positive('maxLoadAgeMs', options.maxLoadAgeMs ?? DEFAULT_MAX_LOAD_AGE_MS),
    overloadRatio,
    lagFloorMs: positive('lagFloorMs', options.lagFloorMs ?? DEFAULT_LAG_FLOOR_MS),
    recordsFloorPerSecond: positive('recordsFloorPerSecond', options.recordsFloorPerSecond ?? DEFAULT_RECORDS_FLOOR_PER_SECOND),
    allowSwaps: options.allowSwaps ?? true,
  };
}

/** True when every field is a finite number and the rates are not negative. */
export function isValidWorkerLoad(load: WorkerLoad): boolean {
  return (
    Number.isFinite(load.eventLoopLagMs) &&
    load.eventLoopLagMs >= 0 &&
    Number.isFinite(load.recordsPerSecond) &&
    load.recordsPerSecond >= 0 &&
    Number.isFinite(load.reportedAt)
  );
}

/**
 * Decides the planning mode. Load-aware only when a valid, fresh load is known for every live
 * worker: one missing, malformed or stale load (older than `maxLoadAgeMs` before `nowMs`) makes
 * the whole plan count-balanced, because scoring a fleet against a partial picture would steer
 * leases toward the workers nobody has heard from.
 */
export function choosePlanMode(
  workers: readonly string[],
  workerLoads: ReadonlyMap<string, WorkerLoad> | undefined,
  options?: LoadAwarePlanOptions,
): PlanMode {
  if (workerLoads === undefined) return { mode: 'count', reason: 'no-loads' };
  const live = [...new Set(workers)].sort();
  if (live.length === 0) return { mode: 'count', reason: 'no-workers' };
  const resolved = resolveLoadAwarePlanOptions(options);

  const loads = new Map<string, WorkerLoad>();
  for (const workerId of live) {
    const load = workerLoads.get(workerId);
    if (load === undefined) return { mode: 'count', reason: 'missing-load', workerId };
    if (!isValidWorkerLoad(load)) return { mode: 'count', reason: 'invalid-load', workerId };
    loads.set(workerId, load);
  }
  let nowMs = resolved.nowMs ?? Number.NEGATIVE_INFINITY;
  if (resolved.nowMs === undefined) for (const load of loads.values()) nowMs = Math.max(nowMs, load.reportedAt);
  for (const workerId of live) {
    if (nowMs - loads.get(workerId)!.reportedAt > resolved.maxLoadAgeMs) return { mode: 'count', reason: 'stale-load', workerId };
  }
  return { mode: 'load', fleet: scoreFleet(live, loads, resolved) };
}

function scoreFleet(workers: readonly string[], loads: ReadonlyMap<string, WorkerLoad>, options: ResolvedLoadAwarePlanOptions): FleetLoad {
  // Sums in sorted worker order so the floating-point result never depends on map order.
  let lagSum = 0;
  let recordsSum = 0;
  for (const workerId of workers) {
    lagSum += loads.get(workerId)!.eventLoopLagMs;
    recordsSum += loads.get(workerId)!.recordsPerSecond;
  }
  const lagUnit = Math.max(lagSum / workers.length, options.lagFloorMs);
  const recordsUnit = Math.max(recordsSum / workers.length, options.recordsFloorPerSecond);
  const scores = new Map<string, number>();
  let scoreSum = 0;
  for (const workerId of workers) {
    const load = loads.get(workerId)!;
    const score = load.recordsPerSecond / recordsUnit + load.eventLoopLagMs / lagUnit;
    scores.set(workerId, score);
    scoreSum += score;
  }
  return {
    workers,
    loads,
    scores,
    meanScore: scoreSum / workers.length,
    scorePerRecordPerSecond: 1 / recordsUnit,
    options,
  };
}

function positive(field: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) invalid(field, value, 'a positive number');
  return value;
}

function invalid(field: string, value: unknown, expected: string): never {
  throw new InvalidArgumentError(`load-aware planning: ${field} must be ${expected}, got ${String(value)}`);
}
