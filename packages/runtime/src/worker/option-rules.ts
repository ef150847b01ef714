/**
 * Rules between worker options. A rule is checked only when every field it reads is valid on
 * its own, so a user who gets one field wrong hears about that field alone.
 */

/** The option values the rules read, as far as they parsed. */
export interface RuleInput {
  readonly leaseDurationMs: unknown;
  readonly heartbeatIntervalMs: unknown;
  readonly processorRetryBaseMs: unknown;
  readonly processorRetryMaxMs: unknown;
  readonly retrieval: { readonly retryBaseMs?: unknown; readonly retryMaxMs?: unknown } | undefined;
  readonly coordination:
    | {
        readonly livenessIntervalMs?: unknown;
        readonly livenessSelfFenceMs?: unknown;
        readonly livenessFailoverMs?: unknown;
        readonly leadershipDurationMs?: unknown;
        readonly leadershipRenewIntervalMs?: unknown;
      }
    | undefined;
}

export interface RuleIssue {
  readonly path: string[];
  readonly message: string;
}

interface Rule {
  /** The field reported; the first of the two compared. */
  readonly path: string[];
  readonly other: string[];
  readonly holds: (value: number, other: number) => boolean;
  readonly message: (value: number, other: number) => string;
}

const RULES: readonly Rule[] = [
  {
    path: ['heartbeatIntervalMs'],
    other: ['leaseDurationMs'],
    holds: (heartbeat, lease) => heartbeat * 2 < lease,
    message: (heartbeat, lease) =>
      `must be less than half of leaseDurationMs (${lease}), so a failed heartbeat can be retried before the worker must stop; got ${heartbeat}`,
  },
  {
    path: ['coordination', 'livenessIntervalMs'],
    other: ['coordination', 'livenessSelfFenceMs'],
    holds: (interval, selfFence) => interval * 3 <= selfFence,
    message: (interval, selfFence) =>
      `must be at most a third of coordination.livenessSelfFenceMs (${selfFence}), so a lost request can be retried before the worker must stop; got ${interval}`,
  },
  {
    path: ['coordination', 'livenessSelfFenceMs'],
    other: ['coordination', 'livenessFailoverMs'],
    holds: (selfFence, failover) => selfFence < failover,
    message: (selfFence, failover) =>
      `must be less than coordination.livenessFailoverMs (${failover}): a worker must stop before the leader frees its leases; got ${selfFence}`,
  },
  {
    path: ['coordination', 'leadershipRenewIntervalMs'],
    other: ['coordination', 'leadershipDurationMs'],
    holds: (renew, duration) => renew * 2 < duration,
    message: (renew, duration) => `must be less than half of coordination.leadershipDurationMs (${duration}); got ${renew}`,
  },
  {
    path: ['processorRetryBaseMs'],
    other: ['processorRetryMaxMs'],
    holds: (base, max) => base <= max,
    message: (_base, max) => `must not exceed processorRetryMaxMs (${max})`,
  },
  {
    path: ['retrieval', 'retryBaseMs'],
    other: ['retrieval', 'retryMaxMs'],
    holds: (base, max) => base <= max,
    message: (_base, max) => `must not exceed retrieval.retryMaxMs (${max})`,
  },
];

/** The rules broken by `options`, skipping every rule that reads a field invalid on its own. */
export function crossFieldIssues(options: RuleInput): RuleIssue[] {
  const issues: RuleIssue[] = [];
  for (const rule of RULES) {
    const value = valueAt(options, rule.path);
    const other = valueAt(options, rule.other);
    if (!isDuration(value) || !isDuration(other) || rule.holds(value, other)) continue;
    issues.push({ path: rule.path, message: rule.message(value, other) });
  }
  return issues;
}

/** A value as a user would write it, for messages: strings quoted, objects as JSON. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value instanceof Date || typeof value !== 'object' || value === null) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function valueAt(options: RuleInput, path: readonly string[]): unknown {
  let value: unknown = options;
  for (const key of path) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return value;
}

/** Every field a rule reads is a positive whole number of milliseconds. */
function isDuration(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}
