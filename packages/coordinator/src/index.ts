/**
 * `@shoal/coordinator`: the plain async building blocks behind a Shoal fleet. No XState here.
 * The lease table (every conditional DynamoDB write, in one module), shard listing, the
 * assignment planner, worker liveness, the shared GetRecords budget on Redis, and live lease
 * state on NATS.
 *
 * @example
 * ```ts
 * import { DynamoDbLeaseStore, leaseNamespace, planAssignments } from '@shoal/coordinator';
 *
 * const store = new DynamoDbLeaseStore({ client: new DynamoDBClient({}), tableName: 'shoal-leases' });
 * await store.ensureTable();
 * const { leases, workers } = await store.readNamespace(leaseNamespace('billing', 'orders'));
 * const plan = planAssignments({
 *   leases: leases.map((lease) => ({ leaseKey: lease.leaseKey, owner: lease.leaseOwner })),
 *   workers: workers.map((worker) => worker.workerId),
 * });
 * ```
 *
 * @module
 */
export type { Logger } from './logger.js';
export {
  leaseNamespace,
  newLeaseKey,
  parentLeaseKeys,
  type ConditionalWriteResult,
  type Lease,
  type LeaseOwnership,
  type NewLease,
  type WorkerRecord,
  type WorkerRegistration,
  type WorkerStatus,
} from './lease-table/lease.js';
export type { LeaseStore, MalformedRow, NamespaceReadOptions, NamespaceSnapshot, OwnedLeaseRef } from './lease-table/lease-store.js';
export { DynamoDbLeaseStore, type DynamoDbLeaseStoreOptions } from './lease-table/dynamodb-lease-store.js';
export { ensureLeaseTable, type EnsureLeaseTableOptions, type LeaseTableInfo } from './lease-table/ensure-lease-table.js';
export { LeaseTableError, LeaseTableSchemaError } from './lease-table/lease-table-errors.js';
export { OWNER_INDEX_NAME, PARTITION_KEY, SORT_KEY } from './lease-table/item-codec.js';
export { LivenessTracker } from './liveness/liveness-tracker.js';
export { OwnershipTracker } from './liveness/ownership-tracker.js';
export { planAssignments, type AssignmentPlan, type LeaseMove, type PlanInput, type PlannerLease } from './assignment/plan-assignments.js';
export { RequestTimeoutError, withRequestTimeout } from './aws/request-timeout.js';
export { listShards, toShardInfo, type ListShardsOptions, type ShardInfo } from './shards/list-shards.js';
export { listStreams, type ListStreamsOptions } from './shards/list-streams.js';
export { UnlimitedShardReadBudget, type ShardReadBudget } from './read-budget/shard-read-budget.js';
export { NoopLeaseStatePublisher, type LeaseStatePublisher, type LeaseStateSnapshot } from './live-state/lease-state.js';
export { RedisShardReadBudget, type ReadBudgetClock, type RedisShardReadBudgetOptions } from './read-budget/redis-shard-read-budget.js';
export { connectNats, NatsLink, type ConnectNatsOptions, type NatsLinkState } from './nats/connect-nats.js';
export type { NatsAuthOptions, NatsTlsOptions } from './nats/nats-auth.js';
export {
  LEASE_STATE_MAX_AGE_MS,
  NatsLeaseStatePublisher,
  leaseStateBucket,
  leaseStateKey,
  leaseStateSubject,
  openLeaseStateBucket,
  workerReportSubject,
} from './live-state/nats-lease-state-publisher.js';
export { MAX_REPORTED_SHARDS, workerLiveReportSchema, type WorkerLiveReport } from './live-state/worker-live-report.js';
export { parseLeaseStateSnapshot, watchLeaseStates, type LeaseStateUpdate, type LeaseStateWatch } from './live-state/watch-lease-states.js';
export type { LeadershipRecord, WorkerLivenessMode } from './lease-table/lease.js';
export type { CoordinationBus, Unsubscribe } from './coordination/coordination-bus.js';
export { canonicalJson, newFleetKey, signMessage, signed, verifyMessage } from './coordination/message-auth.js';
export { MessageDropLog } from './coordination/message-drop-log.js';
export {
  fleetEventSchema,
  workerCommandSchema,
  type CommandReply,
  type FleetEvent,
  type FleetEventType,
  type LivenessReply,
  type LivenessRequest,
  type PlanMessage,
  type WorkerCommand,
} from './coordination/coordination-messages.js';
export {
  NatsCoordinationBus,
  coordinationSubjects,
  subjectToken,
  type NatsCoordinationBusOptions,
} from './coordination/nats-coordination-bus.js';
export { LeaderElection, type ElectionClock, type LeaderElectionOptions } from './leadership/leader-election.js';
export { LivenessGrants, type LivenessGrantsOptions } from './leadership/liveness-grants.js';
export {
  choosePlanMode,
  isValidWorkerLoad,
  resolveLoadAwarePlanOptions,
  type CountModeReason,
  type FleetLoad,
  type LoadAwarePlanOptions,
  type PlanMode,
  type ResolvedLoadAwarePlanOptions,
  type WorkerLoad,
} from './assignment/worker-load.js';
export { planLoadAwareAssignments, type LoadAwarePlan } from './assignment/load-aware-plan.js';
export type { LeaseSwap } from './assignment/lease-swaps.js';
export { InMemoryWorkerLoadStore, type WorkerLoadStore } from './load/worker-load-store.js';
export { RedisWorkerLoadStore, type RedisWorkerLoadStoreOptions } from './load/redis-worker-load-store.js';
export { createFailOpenRedis, waitUntilReady, type RedisConnectionOptions } from './redis/fail-open-redis.js';
export {
  EventLoopLoadSampler,
  type EventLoopLoadSamplerOptions,
  type EventLoopLoadSamplerState,
  type LoadSamplerClock,
} from './load/event-loop-load-sampler.js';
export { mergeShards, splitShard, type ReshardOptions, type ReshardResult, type SplitShardOptions } from './shards/reshard.js';
export { HashKeyOutOfRangeError, ShardClosedError, ShardsNotAdjacentError } from './shards/reshard-errors.js';
