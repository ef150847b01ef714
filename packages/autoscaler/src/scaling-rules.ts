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
  const resolved = { ...DEFAULT_SCALING_RULES, ...rules };
  const issues: string[] = [];
  const wholeAtLeast = (key: keyof ScalingRules, min: number) => {
    const value = resolved[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
      issues.push(`${key}: must be a whole number, ${min} or more; got ${String(value)}`);
  };
  wholeAtLeast('minShards', 1);
  wholeAtLeast('maxShards', 1);
  wholeAtLeast('upSustainMinutes', 1);
  wholeAtLeast('downSustainMinutes', 1);
  wholeAtLeast('downCooldownMinutes', 0);
  wholeAtLeast('upCooldownMinutes', 0);
  wholeAtLeast('maxCallsPer24Hours', 1);
  wholeAtLeast('callsReservedForUp', 0);
  wholeAtLeast('pollingConsumers', 0);
  if (resolved.maxShards < resolved.minShards)
    issues.push(`maxShards: must be at least minShards (${resolved.minShards}); got ${resolved.maxShards}`);
  if (!(resolved.headroom >= 0 && resolved.headroom <= 4))
    issues.push(`headroom: must be a fraction from 0 to 4 (0.2 for 20 %); got ${resolved.headroom}`);
  if (!(resolved.upThreshold > 0 && resolved.upThreshold <= 1))
    issues.push(`upThreshold: must be above 0 and at most 1; got ${resolved.upThreshold}`);
  if (!(resolved.downThreshold >= 0 && resolved.downThreshold < resolved.upThreshold)) {
    issues.push(
      `downThreshold: must be 0 or more and below upThreshold (${resolved.upThreshold}), or scaling would oscillate; got ${resolved.downThreshold}`,
    );
  }
  if (1 / (1 + resolved.headroom) >= resolved.upThreshold) {
    issues.push(
      `headroom: a scaled stream runs at 1 ÷ (1 + headroom) = ${(1 / (1 + resolved.headroom)).toFixed(3)}, which must be below upThreshold (${resolved.upThreshold})`,
    );
  }
  if (!(resolved.minStep >= 0 && resolved.minStep < 1))
    issues.push(`minStep: must be a fraction from 0 to below 1; got ${resolved.minStep}`);
  if (resolved.callsReservedForUp >= resolved.maxCallsPer24Hours) {
    issues.push(
      `callsReservedForUp: must be below maxCallsPer24Hours (${resolved.maxCallsPer24Hours}); got ${resolved.callsReservedForUp}`,
    );
  }
  if (issues.length > 0) throw new InvalidScalingRulesError(issues);
  return resolved;
}
