import type { KinesisRecord } from '@shoal/processor-sdk';

/** Top-level lease machine states after which the shard is no longer this worker's. */
export function hasLetGo(state: string): boolean {
  return state === 'stolen' || state === 'ended';
}

/** How a GetRecords call ended, as counted. */
export type GetRecordsOutcome = 'ok' | 'throttled' | 'expired-iterator' | 'error';

/** What one shard's consumer reports as it works: cheap calls, made on the consumer's path. */
export interface ShardObserver {
  /** A `processRecords` call returned: its records, their bytes, how long it took, and the shard's lag at delivery. */
  batchProcessed(records: number, bytes: number, seconds: number, lagMs: number): void;
  /** A `processRecords` call threw; the batch will be delivered again after a backoff. */
  processorFailed(): void;
  /** A checkpoint write: applied, or refused (the lease is no longer this worker's). */
  checkpoint(outcome: 'written' | 'refused'): void;
  getRecords(outcome: GetRecordsOutcome): void;
  /** The records of a batch `processRecords` finished, for the traffic windows; optional. */
  recordsProcessed?(records: readonly KinesisRecord[]): void;
}

/** What a worker reports for metrics; the default does nothing. */
export interface WorkerObserver {
  shard(streamName: string, shardId: string): ShardObserver;
  /** A lease machine entered `state` (its top-level state: pending, owned, draining, stolen, ended). */
  leaseTransition(streamName: string, shardId: string, state: string): void;
}
