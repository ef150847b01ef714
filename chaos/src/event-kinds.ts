/**
 * What the chaos runner injects. Each kind has one way of being done (see `injector.ts`) and one
 * stall bound (see `stall-bounds.ts`).
 */
export const CHAOS_EVENT_KINDS = [
  'sigkill',
  'sigkill-leader',
  'sigterm',
  'sigstop',
  'sigstop-leader',
  'partition-worker',
  'partition-leader',
  'nats-restart',
  'redis-restart',
  'dynamodb-delay',
  'dynamodb-throttle',
  'kinesis-throttle',
  'kinesis-expired-iterator',
  'split',
  'merge',
] as const;

export type ChaosEventKind = (typeof CHAOS_EVENT_KINDS)[number];

/** Faults a worker process switches on in its own AWS SDK clients when the runner asks. */
export const WORKER_FAULT_KINDS = ['dynamodb-delay', 'dynamodb-throttle', 'kinesis-throttle', 'kinesis-expired-iterator'] as const;

export type WorkerFaultKind = (typeof WORKER_FAULT_KINDS)[number];

/**
 * Events after which a worker may legitimately process records again that it or another worker
 * already processed: it could not checkpoint, or lost its leases without a drain. `target` events
 * affect the worker they name; `fleet` events may make any worker lose leases (every grant chain
 * breaks at once, and a worker whose switch to table liveness is slow is revoked).
 */
export const UNCLEAN_EVENT_SCOPE: Partial<Record<ChaosEventKind, 'target' | 'fleet'>> = {
  sigkill: 'target',
  'sigkill-leader': 'target',
  sigstop: 'target',
  'sigstop-leader': 'target',
  'partition-worker': 'target',
  'partition-leader': 'fleet',
  'nats-restart': 'fleet',
  'dynamodb-delay': 'target',
  'dynamodb-throttle': 'target',
};

export function isChaosEventKind(value: unknown): value is ChaosEventKind {
  return typeof value === 'string' && (CHAOS_EVENT_KINDS as readonly string[]).includes(value);
}
