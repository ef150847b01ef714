import type { ScalingRules } from './scaling-rules.js';
import { bindingLimit, nextPowerOfTwo, shardNeeds, type BindingLimit } from './shard-limits.js';

/** One minute of a stream's write traffic. */
export interface TrafficMinute {
  /** Start of the minute, epoch ms. */
  readonly at: number;
  /** Bytes put in the minute. */
  readonly incomingBytes: number;
  /** Records put in the minute. */
  readonly incomingRecords: number;
  /** Puts refused for throughput in the minute (WriteProvisionedThroughputExceeded). */
  readonly throttledPuts?: number;
  /** The window's length when it is not a minute (tests run on short windows). Default 60. */
  readonly seconds?: number;
  /**
   * False when nothing was measured in the window (no worker counted the stream, Redis was
   * away): not the same as no traffic. Default true.
   */
  readonly measured?: boolean;
}

export interface ScalingInput {
  /** Epoch ms. */
  readonly now: number;
  readonly openShards: number;
  /** The stream's traffic, one entry a minute, oldest first, ending at the last whole minute. */
  readonly traffic: readonly TrafficMinute[];
  /** When each UpdateShardCount call was made (older than 24 hours are ignored). */
  readonly callTimes: readonly number[];
  /** When the shard count last changed; none: not in memory. */
  readonly lastChangeAt?: number;
  readonly rules: ScalingRules;
}

export type ScalingAction = 'hold' | 'scale-up' | 'scale-down';

export interface ScalingPlan {
  readonly action: ScalingAction;
  readonly from: number;
  /** The count after the last step. */
  readonly to: number;
  /** Successive UpdateShardCount targets, each at most double and at least half the one before. */
  readonly steps: readonly number[];
  /** Why, in words. */
  readonly reasons: readonly string[];
}

const DAY_MS = 24 * 60 * 60 * 1_000;
const MINUTE_MS = 60_000;

/** A minute's need in shards (fractional), and the limit that set it. */
export function minuteNeed(
  minute: Pick<TrafficMinute, 'incomingBytes' | 'incomingRecords' | 'seconds'>,
  pollingConsumers: number,
): { shards: number; binding: BindingLimit } {
  const seconds = minute.seconds ?? 60;
  const needs = shardNeeds(minute.incomingBytes / seconds, minute.incomingRecords / seconds, pollingConsumers);
  const binding = bindingLimit(needs);
  return { shards: needs[binding], binding };
}

/** UpdateShardCount targets from `from` to `to`: doubling up, halving down (rounded up), the last one exact. */
export function shardCountSteps(from: number, to: number): number[] {
  const steps: number[] = [];
  let current = from;
  while (current !== to) {
    current = to > current ? Math.min(to, current * 2) : Math.max(to, Math.ceil(current / 2));
    steps.push(current);
  }
  return steps;
}

const percent = (fraction: number) => `${Math.round(fraction * 100)} %`;
const LIMIT_WORDS: Record<BindingLimit, string> = { 'write-records': 'write records', 'write-bytes': 'write bytes', 'read-bytes': 'reads' };

/**
 * Plans the next change of a stream's shard count from its recent traffic: up when utilisation
 * (the need in shards ÷ the open shards) stays at or above `upThreshold` for `upSustainMinutes`
 * (or producers keep being throttled), down only when it stays below `downThreshold` for
 * `downSustainMinutes` and `downCooldownMinutes` passed since the last change, never in the band
 * between. A target is the peak need of the window × (1 + headroom), within the bounds, reached
 * in steps UpdateShardCount allows (at most double, at least half) and only as many as the calls
 * left in the rolling 24 hours allow (scaling down keeps `callsReservedForUp` back). Pure: the
 * same input gives the same plan.
 */
export function planScaling(input: ScalingInput): ScalingPlan {
  const { now, openShards, traffic, rules } = input;
  const hold = (...reasons: string[]): ScalingPlan => ({ action: 'hold', from: openShards, to: openShards, steps: [], reasons });
  if (!rules.enabled) return hold('autoscaling is switched off: the shard count is held');

  const callsLeft = rules.maxCallsPer24Hours - input.callTimes.filter((at) => at > now - DAY_MS && at <= now).length;
  const sinceChangeMinutes = input.lastChangeAt === undefined ? Number.POSITIVE_INFINITY : (now - input.lastChangeAt) / MINUTE_MS;
  const bound = (count: number) => Math.min(rules.maxShards, Math.max(rules.minShards, count));
  const target = (peakNeed: number) => {
    const raw = bound(Math.max(1, Math.ceil(peakNeed * (1 + rules.headroom) - 1e-9)));
    return rules.powerOfTwo ? Math.min(rules.maxShards, nextPowerOfTwo(raw)) : raw;
  };
  const plan = (action: 'scale-up' | 'scale-down', to: number, usableCalls: number, reasons: string[]): ScalingPlan => {
    let steps = shardCountSteps(openShards, to);
    if (usableCalls <= 0)
      return hold(
        ...reasons,
        `but no UpdateShardCount call is left in the rolling 24 hours (${rules.maxCallsPer24Hours} allowed${action === 'scale-down' ? `, ${rules.callsReservedForUp} kept for scaling up` : ''})`,
      );
    if (steps.length > usableCalls) {
      steps = steps.slice(0, usableCalls);
      reasons.push(
        `only ${usableCalls} UpdateShardCount call${usableCalls === 1 ? '' : 's'} left in the rolling 24 hours: stopping at ${steps.at(-1)} instead of ${to}`,
      );
    }
    return { action, from: openShards, to: steps.at(-1)!, steps, reasons };
  };

  // Out of bounds (the rules changed): back within them first.
  if (openShards < rules.minShards)
    return plan('scale-up', rules.minShards, callsLeft, [`${openShards} open shards is below minShards (${rules.minShards})`]);
  if (openShards > rules.maxShards) {
    return plan('scale-down', rules.maxShards, callsLeft - rules.callsReservedForUp, [
      `${openShards} open shards is above maxShards (${rules.maxShards})`,
    ]);
  }
  if (!traffic.some((minute) => minute.measured !== false)) return hold('no traffic measured yet');

  const needs = traffic.map((minute) => ({ ...minuteNeed(minute, rules.pollingConsumers), measured: minute.measured !== false }));
  const last = (count: number) => needs.slice(-count);
  const peak = (window: readonly { shards: number }[]) => Math.max(...window.map((need) => need.shards));
  const utilisation = (need: { shards: number }) => need.shards / openShards;
  const latest = [...needs].reverse().find((need) => need.measured)!;
  const latestWords = `utilisation ${percent(utilisation(latest))} (need ${latest.shards.toFixed(2)} shards by ${LIMIT_WORDS[latest.binding]}, ${openShards} open)`;

  const upWindow = last(rules.upSustainMinutes);
  const sustainedHigh =
    upWindow.length >= rules.upSustainMinutes && upWindow.every((need) => need.measured && utilisation(need) >= rules.upThreshold);
  const throttled =
    traffic.length >= rules.upSustainMinutes && traffic.slice(-rules.upSustainMinutes).every((minute) => (minute.throttledPuts ?? 0) > 0);
  if (sustainedHigh || throttled) {
    const reasons = [
      sustainedHigh
        ? `utilisation at or above ${percent(rules.upThreshold)} for the last ${rules.upSustainMinutes} minute(s); now ${latestWords}`
        : `producers were throttled in each of the last ${rules.upSustainMinutes} minute(s); now ${latestWords}`,
    ];
    if (!throttled && sinceChangeMinutes < rules.upCooldownMinutes) {
      return hold(
        ...reasons,
        `but the count changed ${Math.floor(sinceChangeMinutes)} minute(s) ago, within upCooldownMinutes (${rules.upCooldownMinutes})`,
      );
    }
    const needed = target(peak(upWindow));
    const to = needed > openShards ? Math.max(needed, bound(Math.ceil(openShards * (1 + rules.minStep) - 1e-9))) : needed;
    if (to <= openShards) {
      if (openShards >= rules.maxShards) return hold(...reasons, `but ${openShards} is maxShards`);
      return hold(
        ...reasons,
        `but the stream's total need fits ${openShards} shards with headroom: the load is uneven (a hot shard), which a split of that shard serves better`,
      );
    }
    reasons.push(
      `target: peak need ${peak(upWindow).toFixed(2)} shards × ${1 + rules.headroom} headroom → ${needed}${rules.powerOfTwo ? ' (a power of two)' : ''}${to > needed ? `, raised to ${to} to step at least ${percent(rules.minStep)}` : ''}`,
    );
    return plan('scale-up', to, callsLeft, reasons);
  }

  const downWindow = last(rules.downSustainMinutes);
  // Never down on windows nobody measured: missing data is not low traffic.
  const sustainedLow =
    downWindow.length >= rules.downSustainMinutes && downWindow.every((need) => need.measured && utilisation(need) < rules.downThreshold);
  if (sustainedLow && openShards > rules.minShards) {
    const reasons = [
      `utilisation below ${percent(rules.downThreshold)} for the last ${rules.downSustainMinutes} minutes; now ${latestWords}`,
    ];
    if (sinceChangeMinutes < rules.downCooldownMinutes) {
      return hold(
        ...reasons,
        `but the count changed ${Math.floor(sinceChangeMinutes)} minute(s) ago, within downCooldownMinutes (${rules.downCooldownMinutes})`,
      );
    }
    const to = target(peak(downWindow));
    if (to >= openShards) return hold(...reasons, `but the peak need with headroom still needs ${openShards} shards`);
    if (to > Math.floor(openShards * (1 - rules.minStep) + 1e-9)) {
      return hold(
        ...reasons,
        `but ${to} shards would save less than minStep (${percent(rules.minStep)}) of ${openShards}: not worth a call yet`,
      );
    }
    reasons.push(
      `target: peak need ${peak(downWindow).toFixed(2)} shards over ${rules.downSustainMinutes} minutes × ${1 + rules.headroom} headroom → ${to}${rules.powerOfTwo ? ' (a power of two)' : ''}`,
    );
    return plan('scale-down', to, callsLeft - rules.callsReservedForUp, reasons);
  }
  return hold(
    `${latestWords}: within the band from ${percent(rules.downThreshold)} to ${percent(rules.upThreshold)}, or not for long enough`,
  );
}
