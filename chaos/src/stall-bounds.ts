import type { ChaosEventKind } from './event-kinds.js';

/**
 * How long a shard with records waiting may go without progress after each kind of event: the
 * promise the chaos suite checks (`maxStallMs` ≤ the largest bound among the events a run
 * injected). Derived from the worker's default timings, which the chaos workers keep:
 * livenessSelfFenceMs 1500, livenessFailoverMs 2000, leadershipDurationMs 2500,
 * leadershipRenewIntervalMs 1000, leaseDurationMs 15000, dynamoDbRequestTimeoutMs 2000,
 * retrieval.retryMaxMs 5000, retrieval.idleTimeBetweenReadsMs 250, drainTimeoutMs 10000,
 * abortGraceMs 500. A bound with `plusDuration` grows by the event's own duration (the fault is
 * on that long).
 */
export interface StallBound {
  readonly baseMs: number;
  readonly plusDuration: boolean;
  readonly reason: string;
}

/** Timings the bounds are derived from (the defaults of `WorkerOptions`). */
export const DEFAULT_TIMINGS = {
  livenessSelfFenceMs: 1_500,
  livenessFailoverMs: 2_000,
  leadershipDurationMs: 2_500,
  leadershipRenewIntervalMs: 1_000,
  leaseSyncIntervalMs: 1_000,
  dynamoDbRequestTimeoutMs: 2_000,
  retryMaxMs: 5_000,
  idleTimeBetweenReadsMs: 250,
  abortGraceMs: 500,
} as const;

/**
 * Slack for what every path pays on top of its timers: the 250 ms GetRecords poll before the last
 * progress and after the new start, the processor's batch, a few DynamoDB round trips, and
 * scheduling on a loaded two-core machine running five workers and both emulators.
 */
const SLACK_MS = 1_000;
const T = DEFAULT_TIMINGS;

/** Kills and pauses: the leader revokes the silent worker livenessFailoverMs after its last grant and plans its leases onto others. */
const FAILOVER_MS = T.livenessFailoverMs + SLACK_MS;
/** The leader itself: its row must stand still leadershipDurationMs, counted from the last renewal seen (up to one renew interval before the event). */
const LEADER_FAILOVER_MS = T.leadershipDurationMs + T.leadershipRenewIntervalMs + SLACK_MS;

export const STALL_BOUNDS: Record<ChaosEventKind | 'none', StallBound> = {
  none: { baseMs: T.idleTimeBetweenReadsMs + SLACK_MS, plusDuration: false, reason: 'steady state: one GetRecords poll interval' },
  sigkill: {
    baseMs: FAILOVER_MS,
    plusDuration: false,
    reason: 'revoked livenessFailoverMs after its last grant, leases planned onto others',
  },
  'sigkill-leader': {
    baseMs: LEADER_FAILOVER_MS,
    plusDuration: false,
    reason:
      'leadership taken over after leadershipDurationMs of a still row (renewed every second), then the old leader is revoked at once',
  },
  sigterm: {
    baseMs: T.leaseSyncIntervalMs + SLACK_MS,
    plusDuration: false,
    reason: 'graceful drain and handoff; a leaving leader leaves its row vacant until the next lease sync',
  },
  sigstop: { baseMs: FAILOVER_MS, plusDuration: false, reason: 'as SIGKILL: the paused worker is revoked, its leases move' },
  'sigstop-leader': { baseMs: LEADER_FAILOVER_MS, plusDuration: false, reason: 'as SIGKILL of the leader' },
  'partition-worker': {
    baseMs: FAILOVER_MS,
    plusDuration: false,
    reason: 'its grants stop: it self-fences after livenessSelfFenceMs and goes on in table mode, or is revoked after livenessFailoverMs',
  },
  'partition-leader': {
    baseMs: FAILOVER_MS,
    plusDuration: false,
    reason: 'every other worker loses its grants: each self-fences and goes on in table mode (or is revoked)',
  },
  'nats-restart': {
    baseMs: FAILOVER_MS,
    plusDuration: false,
    reason: 'every grant chain breaks: each worker self-fences and goes on in table mode; NATS down time does not stop processing',
  },
  'redis-restart': {
    baseMs: T.idleTimeBetweenReadsMs + SLACK_MS,
    plusDuration: false,
    reason: 'the read budget fails open after one 250 ms command timeout',
  },
  'dynamodb-delay': {
    baseMs: T.dynamoDbRequestTimeoutMs + FAILOVER_MS,
    plusDuration: true,
    reason:
      'while replies are late the worker cannot confirm writes; a call sent at the end still waits its request timeout, then failover at worst',
  },
  'dynamodb-throttle': {
    baseMs: T.dynamoDbRequestTimeoutMs + FAILOVER_MS,
    plusDuration: true,
    reason: 'as the delay: throttled calls fail after the SDK retries, at worst the worker is revoked',
  },
  'kinesis-throttle': {
    baseMs: T.retryMaxMs + SLACK_MS,
    plusDuration: true,
    reason: 'GetRecords backs off up to retrieval.retryMaxMs between attempts',
  },
  'kinesis-expired-iterator': {
    baseMs: T.retryMaxMs + SLACK_MS,
    plusDuration: true,
    reason: 'a new iterator from the last position, with backoff up to retrieval.retryMaxMs',
  },
  split: {
    baseMs: T.leaseSyncIntervalMs + SLACK_MS,
    plusDuration: false,
    reason: 'the parent is read to its end (one extra empty poll), SHARD_END checkpointed, children started at once',
  },
  merge: { baseMs: T.leaseSyncIntervalMs + SLACK_MS, plusDuration: false, reason: 'as a split, with two parents' },
};

/** The bound after one event of `kind` that lasted `durationMs`. */
export function stallBoundMs(kind: ChaosEventKind | 'none', durationMs = 0): number {
  const bound = STALL_BOUNDS[kind];
  return bound.baseMs + (bound.plusDuration ? durationMs : 0);
}

/** The largest bound among the events a run injected (the steady-state bound when it injected none), and its kind. */
export function worstStallBound(events: readonly { readonly kind: ChaosEventKind; readonly durationMs?: number }[]): {
  boundMs: number;
  kind: ChaosEventKind | 'none';
} {
  let worst: { boundMs: number; kind: ChaosEventKind | 'none' } = { boundMs: stallBoundMs('none'), kind: 'none' };
  for (const event of events) {
    const boundMs = stallBoundMs(event.kind, event.durationMs ?? 0);
    if (boundMs > worst.boundMs) worst = { boundMs, kind: event.kind };
  }
  return worst;
}
