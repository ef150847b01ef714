/**
 * `@shoal/processor-sdk`: what a Shoal user implements and calls. No NATS, no DynamoDB.
 *
 * @example
 * ```ts
 * import type { ShardRecordProcessorFactory } from '@shoal/processor-sdk';
 *
 * export const processorFactory: ShardRecordProcessorFactory = ({ shardId }) => ({
 *   async processRecords({ records, checkpointer, lease, signal }) {
 *     for (const record of records) {
 *       lease.throwIfInvalid(); // stop at once when the lease's time is up
 *       await save(shardId, record.partitionKey, record.data, { signal });
 *     }
 *     await checkpointer.checkpoint();
 *   },
 *   async shardEnded({ checkpointer }) { await checkpointer.checkpoint(); },
 *   async shutdownRequested({ checkpointer }) { await checkpointer.checkpoint(); },
 * });
 * ```
 *
 * @module
 */
export type {
  HeldLease,
  InitializationInput,
  LeaseLostInput,
  LeaseScoped,
  ProcessRecordsInput,
  ShardContext,
  ShardEndedInput,
  ShardRecordProcessor,
  ShardRecordProcessorFactory,
  ShutdownRequestedInput,
  ShutdownRequestReason,
} from './record-processor.js';
export type { Checkpointer } from './checkpointer.js';
export type { KinesisRecord, KplAggregate } from './kinesis-record.js';
export {
  assertSequenceNumber,
  compareExtendedSequenceNumbers,
  compareSequenceNumbers,
  formatCheckpoint,
  type Checkpoint,
  type ExtendedSequenceNumber,
  type InitialPosition,
} from './sequence-number.js';
export {
  InvalidArgumentError,
  InvalidCheckpointError,
  LeaseLostError,
  ShoalError,
  ShutdownError,
  isShoalError,
  type ShoalErrorCode,
  type ShoalErrorOptions,
} from './errors.js';
export {
  MAX_HASH_KEY,
  evenHashKeyRanges,
  findShardForHashKey,
  findShardForPartitionKey,
  hashKeyForPartitionKey,
  hashKeyForRecord,
  hashKeyInRange,
  hashKeyRangeMidpoint,
  parseHashKey,
  parseHashKeyRange,
  type AwsHashKeyRange,
  type HashKeyRange,
} from './hash-key.js';
export {
  CorruptAggregateError,
  deaggregateRecord,
  deaggregateRecords,
  type DeaggregateOptions,
  type GetRecordsRecord,
} from './deaggregate.js';
