/** The rules a scaling plan follows. */
export interface ScalingRules {
  /** Never fewer shards than this. Default 1. */
  readonly minShards: number;
  /** Never more shards than this. Default 512. */
  readonly maxShards: number;
  /** Spare capacity planned on top of the need, as a fraction: 0.2 for 20 %. Default 0.15. */
  readonly headroom: number;
  /** Scale up once utilisation (need ÷ open shards) reaches this in every minute of `upSustainMinutes`. Default 0.88. */
  readonly upThreshold: number;
  /** Scale down only once utilisation stays below this in every minute of `downSustainMinutes`. Default 0.72. */
  readonly downThreshold: number;
  /** Minutes utilisation must stay above `upThreshold` before scaling up. Default 1. */
  readonly upSustainMinutes: number;
  /** Minutes utilisation must stay below `downThreshold` before scaling down. Default 10. */
  readonly downSustainMinutes: number;
  /** No scaling down within this long of the last change. Default 15 minutes. */
  readonly downCooldownMinutes: number;
  /** No scaling up within this long of the last change, unless producers are throttled. Default 5 minutes. */
  readonly upCooldownMinutes: number;
  /** UpdateShardCount calls allowed in any rolling 24 hours (AWS documents 10). Default 10. */
  readonly maxCallsPer24Hours: number;
  /** Calls kept back for scaling up: scaling down never uses the last ones. Default 1. */
  readonly callsReservedForUp: number;
  /**
   * The smallest change worth a call, as a fraction of the open count: scaling up goes at least
   * this far (overshooting a slow ramp saves calls for later), and scaling down waits until it can
   * go at least this far. Default 0.2.
   */
  readonly minStep: number;
  /** Applications that poll every record; they share each shard's 2 MiB/s of reads. Default 1. */
  readonly pollingConsumers: number;
  /** Round targets up to a power of two (equal hash ranges). Default false. */
  readonly powerOfTwo: boolean;
  /** The kill switch: false holds the count whatever the traffic. Default true. */
  readonly enabled: boolean;
}

export const DEFAULT_SCALING_RULES: ScalingRules = {
  minShards: 1,
  maxShards: 512,
  headroom: 0.15,
  upThreshold: 0.88,
  downThreshold: 0.72,
  upSustainMinutes: 1,
  downSustainMinutes: 10,
  downCooldownMinutes: 15,
  upCooldownMinutes: 5,
  maxCallsPer24Hours: 10,
  callsReservedForUp: 1,
  minStep: 0.2,
  pollingConsumers: 1,
  powerOfTwo: false,
  enabled: true,
};

/** A rule that cannot hold with the others; the message names it. */
export class InvalidScalingRulesError extends Error {
  override readonly name = 'InvalidScalingRulesError';
  constructor(readonly issues: readonly string[]) {
    super(`invalid scaling rules:\n  - ${issues.join('\n  - ')}`);
  }
}

/** Fills in defaults and checks the rules against each other. */
export function resolveScalingRules(rules: Partial<ScalingRules> = {}): ScalingRules {
  const issues: string[] = [];
  for (const key of Object.keys(rules)) {
    if (!(key in DEFAULT_SCALING_RULES))
      issues.push(`${key}: is not a scaling rule (the rules are ${Object.keys(DEFAULT_SCALING_RULES).join(', ')})`);
  }
  const resolved = { ...DEFAULT_SCALING_RULES, ...rules };
  // With fewer calls allowed than the default reserve, keep back all but one (not an error the user did not ask for).
  if (rules.callsReservedForUp === undefined && typeof resolved.maxCallsPer24Hours === 'number') {
    resolved.callsReservedForUp = Math.max(0, Math.min(DEFAULT_SCALING_RULES.callsReservedForUp, resolved.maxCallsPer24Hours - 1));
  }
  for (const key of ['powerOfTwo', 'enabled'] as const) {
    if (typeof resolved[key] !== 'boolean') issues.push(`${key}: must be true or false; got ${String(resolved[key])}`);
  }
  const wholeAtLeast = (key: keyof ScalingRules, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const value = resolved[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      issues.push(`${key}: must be a whole number from ${min} to ${max}; got ${String(value)}`);
    }
  };
  wholeAtLeast('minShards', 1, 100_000);
  wholeAtLeast('maxShards', 1, 100_000);
  // A day of windows at most: each window is read from Redis every cycle.
  wholeAtLeast('upSustainMinutes', 1, 1_440);
  wholeAtLeast('downSustainMinutes', 1, 1_440);
  wholeAtLeast('downCooldownMinutes', 0, 10_080);
  wholeAtLeast('upCooldownMinutes', 0, 10_080);
  wholeAtLeast('maxCallsPer24Hours', 1, 10_000);
  wholeAtLeast('callsReservedForUp', 0, 10_000);
  wholeAtLeast('pollingConsumers', 0, 1_000);
  const fraction = (key: keyof ScalingRules, check: (value: number) => boolean, what: string) => {
    const value = resolved[key];
    if (typeof value !== 'number' || !check(value)) issues.push(`${key}: ${what}; got ${String(value)}`);
  };
  fraction('headroom', (value) => value >= 0 && value <= 4, 'must be a fraction from 0 to 4 (0.2 for 20 %)');
  fraction('upThreshold', (value) => value > 0 && value <= 1, 'must be above 0 and at most 1');
  fraction('minStep', (value) => value >= 0 && value < 1, 'must be a fraction from 0 to below 1');
  if (resolved.maxShards < resolved.minShards)
    issues.push(`maxShards: must be at least minShards (${resolved.minShards}); got ${resolved.maxShards}`);
  if (!(typeof resolved.downThreshold === 'number' && resolved.downThreshold >= 0 && resolved.downThreshold < resolved.upThreshold)) {
    issues.push(
      `downThreshold: must be 0 or more and below upThreshold (${resolved.upThreshold}), or scaling would oscillate; got ${resolved.downThreshold}`,
    );
  }
  if (1 / (1 + resolved.headroom) >= resolved.upThreshold) {
    issues.push(
      `headroom: a scaled stream runs at 1 ÷ (1 + headroom) = ${(1 / (1 + resolved.headroom)).toFixed(3)}, which must be below upThreshold (${resolved.upThreshold})`,
    );
  }
  if (resolved.callsReservedForUp >= resolved.maxCallsPer24Hours) {
    issues.push(
      `callsReservedForUp: must be below maxCallsPer24Hours (${resolved.maxCallsPer24Hours}); got ${resolved.callsReservedForUp}`,
    );
  }
  if (issues.length > 0) throw new InvalidScalingRulesError(issues);
  return resolved;
}
