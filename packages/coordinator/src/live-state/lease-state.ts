import type { WorkerLiveReport } from './worker-live-report.js';

/** The current state of one lease machine, as published on NATS for observers. */
export interface LeaseStateSnapshot {
  readonly application: string;
  readonly streamName: string;
  readonly leaseKey: string;
  readonly shardId: string;
  readonly workerId: string;
  /** The machine's state, dotted for sub-states: `pending`, `owned.processing`, `draining`, `ended`... */
  readonly state: string;
  /** Why the machine got here (`handed-off`, `shard-end`, `lease-lost`, `fenced`...), when it says. */
  readonly reason?: string;
  readonly leaseCounter?: number;
  /** Formatted checkpoint (sequence[.sub], TRIM_HORIZON, SHARD_END...). */
  readonly checkpoint?: string;
  /** Epoch milliseconds of the transition. */
  readonly at: number;
}

/** Sink for lease machine transitions. Publishing never blocks or fails consumption. */
export interface LeaseStatePublisher {
  publish(snapshot: LeaseStateSnapshot): void;
  /** The lease is gone from the table (a finished parent cleaned up): its state need not be kept. */
  forget?(streamName: string, leaseKey: string): void;
  /** Tells observers how the worker is (see `WorkerLiveReport`); sinks without observers omit it. */
  reportWorker?(report: WorkerLiveReport): void;
  close(): Promise<void>;
}

export class NoopLeaseStatePublisher implements LeaseStatePublisher {
  publish(): void {}
  async close(): Promise<void> {}
}
