import { minuteNeed, shardCountSteps, type TrafficMinute } from '../scaling-planner.js';

/** What a scaler sees each minute it may act. */
export interface ScalerView {
  readonly now: number;
  readonly openShards: number;
  /** The traffic so far, oldest first, ending at the last whole minute. */
  readonly traffic: readonly TrafficMinute[];
  readonly callTimes: readonly number[];
  readonly lastChangeAt: number | undefined;
}

/** Decides, each minute the stream is not resharding, the UpdateShardCount targets to apply (none: hold). */
export type Scaler = (view: ScalerView) => readonly number[];

export interface SimulationOptions {
  readonly traffic: readonly TrafficMinute[];
  readonly initialShards: number;
  readonly scaler: Scaler;
  /** Minutes one UpdateShardCount takes; meanwhile the stream serves the smaller count and costs the larger. Default 2. */
  readonly stepMinutes?: number;
  /** Kinesis refuses calls beyond this many in any 24 hours. Default 10. */
  readonly maxCallsPer24Hours?: number;
  /** Polling applications reading every record. Default 1. */
  readonly pollingConsumers?: number;
}

export interface SimulationResult {
  readonly shardHours: number;
  /** Minutes whose need exceeded the shards serving. */
  readonly overCapacityMinutes: number;
  /** UpdateShardCount calls made (refused ones included). */
  readonly apiCalls: number;
  /** Calls Kinesis would have refused for the 24-hour limit. */
  readonly refusedCalls: number;
  /** The most calls in any rolling 24 hours. */
  readonly maxCallsIn24h: number;
  /** Open shards at the start of each minute. */
  readonly shardsByMinute: readonly number[];
}

const DAY_MS = 86_400_000;

/** Plays a scaler against a traffic trace, minute by minute. */
export function simulate(options: SimulationOptions): SimulationResult {
  const { traffic, scaler } = options;
  const stepMinutes = options.stepMinutes ?? 2;
  const maxCalls = options.maxCallsPer24Hours ?? 10;
  const consumers = options.pollingConsumers ?? 1;
  let open = options.initialShards;
  let step: { to: number; endsAt: number; queued: number[] } | undefined;
  const callTimes: number[] = [];
  let lastChangeAt: number | undefined;
  let shardHours = 0;
  let overCapacityMinutes = 0;
  let refusedCalls = 0;
  let maxCallsIn24h = 0;
  const shardsByMinute: number[] = [];

  const call = (now: number, to: number, queued: number[]) => {
    const recent = callTimes.filter((at) => at > now - DAY_MS).length;
    callTimes.push(now);
    maxCallsIn24h = Math.max(maxCallsIn24h, recent + 1);
    if (recent >= maxCalls) {
      refusedCalls += 1;
      step = undefined;
      return;
    }
    step = { to, endsAt: now + stepMinutes * 60_000, queued };
  };

  for (let minute = 0; minute < traffic.length; minute += 1) {
    const now = traffic[minute]!.at;
    if (step && now >= step.endsAt) {
      open = step.to;
      lastChangeAt = now;
      const [next, ...rest] = step.queued;
      step = undefined;
      if (next !== undefined) call(now, next, rest);
    }
    if (!step) {
      const steps = scaler({ now, openShards: open, traffic: traffic.slice(Math.max(0, minute - 120), minute), callTimes, lastChangeAt });
      const [first, ...rest] = steps;
      if (first !== undefined && first !== open) call(now, first, rest);
    }
    const serving = step ? Math.min(open, step.to) : open;
    const billed = step ? Math.max(open, step.to) : open;
    shardsByMinute.push(open);
    shardHours += billed / 60;
    if (minuteNeed(traffic[minute]!, consumers).shards > serving + 1e-9) overCapacityMinutes += 1;
  }
  return { shardHours, overCapacityMinutes, apiCalls: callTimes.length, refusedCalls, maxCallsIn24h, shardsByMinute };
}

/** The least shard-hours any scaler could reach: every minute exactly the shards it needs, rounded up. */
export function oracleShardHours(traffic: readonly TrafficMinute[], pollingConsumers = 1): number {
  return traffic.reduce((sum, minute) => sum + Math.max(1, Math.ceil(minuteNeed(minute, pollingConsumers).shards - 1e-9)) / 60, 0);
}

/**
 * The rule people write by hand: needed = ceil(incoming MiB/s) + 1; scale up whenever needed
 * is above the open count, down whenever it is below `downRatio` of it, straight to needed
 * within UpdateShardCount's double-or-half.
 */
export function simpleRuleScaler(downRatio = 0.75): Scaler {
  return ({ openShards, traffic }) => {
    const last = traffic.at(-1);
    if (!last) return [];
    const needed = Math.ceil(last.incomingBytes / 60 / (1024 * 1024)) + 1;
    if (needed > openShards || needed < openShards * downRatio) return shardCountSteps(openShards, needed).slice(0, 1);
    return [];
  };
}
