import type { Checkpointer } from './checkpointer.js';
import type { KinesisRecord } from './kinesis-record.js';
import type { Checkpoint } from './sequence-number.js';

/** Identifies the shard lease a processor instance works on. */
export interface ShardContext {
  readonly streamName: string;
  readonly shardId: string;
  readonly leaseKey: string;
  readonly workerId: string;
}

export interface InitializationInput extends ShardContext {
  /** Where processing resumes: the stored checkpoint, or the initial position for a new lease. */
  readonly checkpoint: Checkpoint;
}

export interface ProcessRecordsInput extends ShardContext {
  /** In shard order; never empty. */
  readonly records: readonly KinesisRecord[];
  readonly checkpointer: Checkpointer;
  /** How far the last GetRecords call was behind the tip of the shard, when Kinesis reported it. */
  readonly millisBehindLatest: number | undefined;
}

export interface LeaseLostInput extends ShardContext {}

export interface ShardEndedInput extends ShardContext {
  /** Call `checkpointer.checkpoint()` to record SHARD_END; children start only after it. */
  readonly checkpointer: Checkpointer;
  readonly childShardIds: readonly string[];
}

/** Why the lease is being given up while this worker still owns it. */
export type ShutdownRequestReason = 'handoff' | 'worker-shutdown';

export interface ShutdownRequestedInput extends ShardContext {
  /** Checkpoint what was processed so the next owner resumes right after it. */
  readonly checkpointer: Checkpointer;
  readonly reason: ShutdownRequestReason;
}

/**
 * What a user implements to consume one shard. Shoal creates one instance per lease it owns
 * and calls it from one shard consumer, never concurrently:
 *
 * `initialize` → `processRecords`* → exactly one of `shardEnded` | `shutdownRequested` | `leaseLost`.
 *
 * If `processRecords` throws, the batch is delivered again after a backoff, less the records
 * checkpointed before the throw; the checkpoint never moves past records that were not
 * processed. Only `shardEnded` and `shutdownRequested`
 * may checkpoint at the end: after `leaseLost` another worker owns the shard.
 *
 * @example
 * ```ts
 * const processor: ShardRecordProcessor = {
 *   async processRecords({ records, checkpointer }) {
 *     for (const record of records) await handle(record);
 *     await checkpointer.checkpoint();
 *   },
 *   async shardEnded({ checkpointer }) { await checkpointer.checkpoint(); },
 *   async shutdownRequested({ checkpointer }) { await checkpointer.checkpoint(); },
 * };
 * ```
 */
export interface ShardRecordProcessor {
  /** Called once before the first batch. Optional. */
  initialize?(input: InitializationInput): Promise<void> | void;
  processRecords(input: ProcessRecordsInput): Promise<void> | void;
  /** Another worker owns the shard now; release resources, do not checkpoint. Optional. */
  leaseLost?(input: LeaseLostInput): Promise<void> | void;
  /** Every record of a closed shard was delivered; checkpoint to let its children start. */
  shardEnded(input: ShardEndedInput): Promise<void> | void;
  /** The lease is being handed off or the worker is stopping; checkpoint what was processed. */
  shutdownRequested(input: ShutdownRequestedInput): Promise<void> | void;
}

/** Creates a fresh processor for each lease a worker starts to own. */
export type ShardRecordProcessorFactory = (shard: ShardContext) => ShardRecordProcessor;
