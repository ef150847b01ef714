/**
 * Rules between worker options. A rule is checked only when every field it reads is valid on
 * its own, so a user who gets one field wrong hears about that field alone.
 */

/** The option values the rules read, as far as they parsed. */
export interface RuleInput {
  readonly leaseDurationMs: unknown;
  readonly heartbeatIntervalMs: unknown;
  readonly abortGraceMs: unknown;
  readonly processorRetryBaseMs: unknown;
  readonly processorRetryMaxMs: unknown;
  readonly retrieval:
    | {
        readonly retryBaseMs?: unknown;
        readonly retryMaxMs?: unknown;
        readonly idleTimeBetweenReadsMs?: unknown;
        readonly maxIdleTimeBetweenReadsMs?: unknown;
      }
    | undefined;
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
  /** The field reported. */
  readonly path: readonly string[];
  /** Every field the rule reads, the reported one included. */
  readonly reads: readonly (readonly string[])[];
  readonly holds: (...values: number[]) => boolean;
  readonly message: (...values: number[]) => string;
}

const RULES: readonly Rule[] = [
  {
    path: ['heartbeatIntervalMs'],
    reads: [['heartbeatIntervalMs'], ['leaseDurationMs']],
    holds: (heartbeat, lease) => heartbeat! * 2 < lease!,
    message: (heartbeat, lease) =>
      `must be less than half of leaseDurationMs (${lease}), so a failed heartbeat can be retried before the worker must stop; got ${heartbeat}`,
  },
  {
    path: ['abortGraceMs'],
    reads: [['abortGraceMs'], ['heartbeatIntervalMs']],
    holds: (grace, heartbeat) => grace! <= heartbeat!,
    message: (grace, heartbeat) =>
      `must not exceed heartbeatIntervalMs (${heartbeat}): a worker stops processing one heartbeat interval before others may take its leases, and a batch in flight must end within that margin; got ${grace}`,
  },
  {
    path: ['coordination', 'livenessIntervalMs'],
    reads: [
      ['coordination', 'livenessIntervalMs'],
      ['coordination', 'livenessSelfFenceMs'],
    ],
    holds: (interval, selfFence) => interval! * 3 <= selfFence!,
    message: (interval, selfFence) =>
      `must be at most a third of coordination.livenessSelfFenceMs (${selfFence}), so a lost request can be retried before the worker must stop; got ${interval}`,
  },
  {
    path: ['coordination', 'livenessFailoverMs'],
    reads: [['coordination', 'livenessFailoverMs'], ['coordination', 'livenessSelfFenceMs'], ['abortGraceMs']],
    holds: (failover, selfFence, grace) => selfFence! + grace! <= failover!,
    message: (failover, selfFence, grace) =>
      `must be at least coordination.livenessSelfFenceMs + abortGraceMs (${selfFence} + ${grace}): the leader may free a silent worker's leases only after the worker stopped and a batch in flight ended; got ${failover}`,
  },
  {
    path: ['abortGraceMs'],
    reads: [['abortGraceMs'], ['coordination', 'leadershipRenewIntervalMs']],
    holds: (grace, renew) => grace! * 2 <= renew!,
    message: (grace, renew) =>
      `must be at most half of coordination.leadershipRenewIntervalMs (${renew}): a leader stops half a renew interval before another may claim and free its leases at once, and its batch in flight must end within that margin; got ${grace}`,
  },
  {
    path: ['coordination', 'leadershipRenewIntervalMs'],
    reads: [
      ['coordination', 'leadershipRenewIntervalMs'],
      ['coordination', 'leadershipDurationMs'],
    ],
    holds: (renew, duration) => renew! * 2 < duration!,
    message: (renew, duration) => `must be less than half of coordination.leadershipDurationMs (${duration}); got ${renew}`,
  },
  {
    path: ['processorRetryBaseMs'],
    reads: [['processorRetryBaseMs'], ['processorRetryMaxMs']],
    holds: (base, max) => base! <= max!,
    message: (_base, max) => `must not exceed processorRetryMaxMs (${max})`,
  },
  {
    path: ['retrieval', 'maxIdleTimeBetweenReadsMs'],
    reads: [
      ['retrieval', 'maxIdleTimeBetweenReadsMs'],
      ['retrieval', 'idleTimeBetweenReadsMs'],
    ],
    holds: (max, base) => max! >= base!,
    message: (_max, base) => `must be at least retrieval.idleTimeBetweenReadsMs (${base})`,
  },
  {
    path: ['retrieval', 'retryBaseMs'],
    reads: [
      ['retrieval', 'retryBaseMs'],
      ['retrieval', 'retryMaxMs'],
    ],
    holds: (base, max) => base! <= max!,
    message: (_base, max) => `must not exceed retrieval.retryMaxMs (${max})`,
  },
];

/** The rules broken by `options`, skipping every rule that reads a field invalid on its own. */
export function crossFieldIssues(options: RuleInput): RuleIssue[] {
  const issues: RuleIssue[] = [];
  for (const rule of RULES) {
    const values = rule.reads.map((path) => valueAt(options, path));
    if (!values.every(isDuration) || rule.holds(...values)) continue;
    issues.push({ path: [...rule.path], message: rule.message(...values) });
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
