/**
 * `@shoal/runtime`: the Shoal worker node. An XState v5 actor system: a worker machine that
 * hosts one lease machine per shard lease, each running a shard consumer (GetRecords
 * prefetching, processor calls in order, fenced checkpoints) as a child actor.
 *
 * @example
 * ```ts
 * import { Worker, shutdownOnSignals } from '@shoal/runtime';
 *
 * const worker = await Worker.create({
 *   applicationName: 'billing',
 *   streamName: 'orders',
 *   initialPosition: 'TRIM_HORIZON',
 *   processorFactory: () => ({
 *     async processRecords({ records, checkpointer }) { await store(records); await checkpointer.checkpoint(); },
 *     async shardEnded({ checkpointer }) { await checkpointer.checkpoint(); },
 *     async shutdownRequested({ checkpointer }) { await checkpointer.checkpoint(); },
 *   }),
 * });
 * shutdownOnSignals(worker);
 * await worker.run();
 * ```
 *
 * @module
 */
export { Worker, type WorkerLeaseView, type WorkerState } from './worker/worker.js';
export { shutdownOnSignals } from './worker/shutdown-signals.js';
export type { WorkerAutoscaleOptions } from './worker/autoscale-duty.js';
export {
  resolveWorkerOptions,
  selfFenceAfterMs,
  type ResolvedWorkerOptions,
  type CoordinationOptions,
  type RetrievalOptions,
  type WorkerNatsOptions,
  type WorkerOptions,
} from './worker/worker-options.js';
export { InvalidOptionsError } from './errors.js';
export { systemClock, sleep, type Clock } from './clock.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export {
  leaseMachine,
  leaseStateName,
  type LeaseActorRef,
  type LeaseEndReason,
  type LeaseMachine,
  type LeaseMachineEvent,
  type LeaseMachineInput,
  type LeaseMachineMode,
  type LeaseMachineSnapshot,
} from './machines/lease-machine.js';
export { workerMachine, type WorkerMachine, type WorkerMachineInput } from './machines/worker-machine.js';
export { GetRecordsFetcher, type FetchResult, type StartingPosition } from './consumer/get-records-fetcher.js';
export { ShardConsumer, type ShardConsumerExit, type RecordSource } from './consumer/shard-consumer.js';
export { ShardCheckpointer } from './consumer/shard-checkpointer.js';
export { SubscribeToShardFetcher, type SubscribeToShardFetcherOptions } from './fan-out/subscribe-to-shard-fetcher.js';
export {
  MAX_CONSUMERS_PER_STREAM,
  StreamConsumerLimitError,
  StreamConsumers,
  deregisterStreamConsumer,
  type StreamConsumersOptions,
} from './fan-out/stream-consumers.js';
export type { EnhancedFanOutOptions } from './fan-out/fan-out-options.js';
export { listStreamConsumers, streamArnOf } from './fan-out/stream-consumer-calls.js';
export { replicatorProcessor, type ReplicationTarget, type ReplicatorOptions } from './replicator/replicator.js';
export { UnknownTargetError, type KplMode } from './replicator/copy-plan.js';
export { PUT_RECORDS_LIMITS, RecordTooLargeError, nextPutBatch, type PendingPut, type TargetRecord } from './replicator/put-batches.js';
export { TargetWriter, type TargetWriterOptions } from './replicator/target-writer.js';
