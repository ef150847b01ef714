import type { ChaosEventKind } from './event-kinds.js';

/**
 * How long a shard with records waiting may go without progress after each kind of event: the
 * promise the chaos suite checks (`maxStallMs` ≤ the largest bound among the events a run
 * injected). Each bound is derived from the worker's default timings, which the chaos workers
 * keep; a bound with `plusDuration` grows by the event's own duration (the fault is on that long).
 */
export interface StallBound {
  readonly baseMs: number;
  readonly plusDuration: boolean;
  readonly reason: string;
}

/** The defaults of `WorkerOptions` the bounds are derived from. */
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

const T = DEFAULT_TIMINGS;

/**
 * Steady state: one GetRecords poll, plus a second for the processor's batch (20 ms per 5
 * records), scheduling on a loaded two-core machine, and the rebalancing handoffs a fleet does.
 */
const STEADY_MS = T.idleTimeBetweenReadsMs + 1_000;
/**
 * What every move of a lease adds to its timers: the stall starts at the shard's last progress
 * (up to one poll and a batch before the event), and the new owner still acquires the lease,
 * gets an iterator and polls once; plus scheduling on a loaded machine.
 */
const START_MS = 1_500;
/** The leader revokes a silent worker livenessFailoverMs after its last grant (which covers its self-fence and abortGraceMs) and plans its leases onto others. */
const FAILOVER_MS = T.livenessFailoverMs + START_MS;
/**
 * The leader itself: another worker claims its row once it has seen the row stand still for
 * leadershipDurationMs, counted from when it first saw the last renewal (up to one lease sync
 * late), then revokes the old leader at once and plans.
 */
const LEADER_FAILOVER_MS = T.leadershipDurationMs + T.leaseSyncIntervalMs + START_MS;
/**
 * While some workers cannot hear the leader, a lease freed meanwhile (a child shard, a lease the
 * leader planned onto an unreachable worker) is taken only once it has stayed free for three
 * lease syncs.
 */
const UNREACHABLE_LEADER_MS = 3 * T.leaseSyncIntervalMs + START_MS;
/** A child shard starts at once when its parent's end is announced; without the announcement, at the next lease sync. */
const RESHARD_MS = T.leaseSyncIntervalMs + START_MS;

export const STALL_BOUNDS: Record<ChaosEventKind | 'none', StallBound> = {
  none: { baseMs: STEADY_MS, plusDuration: false, reason: 'steady state: one GetRecords poll and a batch' },
  sigkill: {
    baseMs: FAILOVER_MS,
    plusDuration: false,
    reason: 'the leader revokes the worker livenessFailoverMs (2 s) after its last grant and plans its leases onto others',
  },
  'sigkill-leader': {
    baseMs: LEADER_FAILOVER_MS,
    plusDuration: false,
    reason:
      'another worker claims leadership after leadershipDurationMs (2.5 s) of a still row, seen up to one lease sync late, then revokes the old leader',
  },
  sigterm: {
    baseMs: RESHARD_MS,
    plusDuration: false,
    reason: 'graceful drain and handoff to the worker the plan names; a leaving leader leaves its row vacant until the next lease sync',
  },
  sigstop: { baseMs: FAILOVER_MS, plusDuration: false, reason: 'as SIGKILL: the paused worker is revoked and its leases move' },
  'sigstop-leader': { baseMs: LEADER_FAILOVER_MS, plusDuration: false, reason: 'as SIGKILL of the leader' },
  'partition-worker': {
    baseMs: Math.max(FAILOVER_MS, UNREACHABLE_LEADER_MS),
    plusDuration: false,
    reason:
      'it self-fences when its grants run out and goes on in table mode (or is revoked); a lease planned onto it meanwhile waits three lease syncs',
  },
  'partition-leader': {
    baseMs: Math.max(FAILOVER_MS, UNREACHABLE_LEADER_MS),
    plusDuration: false,
    reason: 'every other worker self-fences and goes on in table mode (or is revoked); a lease freed meanwhile waits three lease syncs',
  },
  'nats-restart': {
    baseMs: FAILOVER_MS,
    plusDuration: false,
    reason:
      'every grant chain breaks: each worker self-fences and goes on in table mode (or is revoked); the down time does not stop processing',
  },
  'redis-restart': {
    baseMs: STEADY_MS + 250,
    plusDuration: false,
    reason: 'the read budget waits one 250 ms command timeout, then lets reads through for a second at a time',
  },
  'dynamodb-delay': {
    baseMs: T.dynamoDbRequestTimeoutMs + FAILOVER_MS,
    plusDuration: true,
    reason:
      'while replies are late the worker cannot confirm a write: a checkpoint blocks its batch for the 2 s request timeout, and a worker that cannot confirm its liveness stops and may be revoked',
  },
  'dynamodb-throttle': {
    baseMs: T.dynamoDbRequestTimeoutMs + FAILOVER_MS,
    plusDuration: true,
    reason: 'as the delay: a throttled call fails after the SDK retries or the request timeout',
  },
  'kinesis-throttle': {
    baseMs: T.retryMaxMs + STEADY_MS,
    plusDuration: true,
    reason: 'GetRecords backs off up to retrieval.retryMaxMs (5 s) between attempts',
  },
  'kinesis-expired-iterator': {
    baseMs: T.retryMaxMs + STEADY_MS,
    plusDuration: true,
    reason: 'a new iterator after the last record fetched, with backoff up to retrieval.retryMaxMs (5 s)',
  },
  split: {
    baseMs: RESHARD_MS,
    plusDuration: false,
    reason: 'the parent is read to its end (one extra empty poll), SHARD_END is checkpointed, and the children start at once',
  },
  merge: { baseMs: RESHARD_MS, plusDuration: false, reason: 'as a split, with two parents' },
};

/** The bound after one event of `kind` that lasted `durationMs`. */
export function stallBoundMs(kind: ChaosEventKind | 'none', durationMs = 0): number {
  const bound = STALL_BOUNDS[kind];
  return bound.baseMs + (bound.plusDuration ? durationMs : 0);
}

/** The largest bound among the events a run injected (the steady-state bound when it injected none), and its kind. */
export function worstStallBound(events: readonly { readonly kind: ChaosEventKind; readonly durationMs?: number | undefined }[]): {
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
