import type { Checkpoint } from '@shoal/processor-sdk';
import type {
  ConditionalWriteResult,
  Lease,
  LeadershipRecord,
  LeaseOwnership,
  NewLease,
  WorkerLivenessMode,
  WorkerRecord,
  WorkerRegistration,
} from './lease.js';

/** Everything stored under one namespace, read in one consistent pass. */
export interface NamespaceSnapshot {
  readonly leases: readonly Lease[];
  readonly workers: readonly WorkerRecord[];
  /** The leadership row, when some worker holds or held it. */
  readonly leadership: LeadershipRecord | undefined;
  /** Lease rows left out because a field could not be trusted (see `leaseItemProblem`). */
  readonly malformed?: readonly MalformedRow[];
}

/** How a namespace read is served: `strong` sees every write that applied before it began. */
export interface NamespaceReadOptions {
  /** Eventually consistent reads cost half and may miss writes of the last second: for syncs that only cost time when stale. */
  readonly consistency: 'strong' | 'eventual';
}

/**
 * A lease as the owner index shows it (eventually consistent): enough to see that something
 * changed, never enough to act on; a point read of the lease comes first.
 */
export interface OwnedLeaseRef {
  readonly leaseKey: string;
  readonly leaseCounter: number;
  readonly pendingOwner: string | undefined;
}

/** A lease row Shoal cannot use: its sort key and what is wrong with it. */
export interface MalformedRow {
  readonly itemKey: string;
  /** The lease key (its shard id), so lineage can keep the shard's children waiting. */
  readonly leaseKey: string;
  readonly problem: string;
}

/**
 * The lease table: the single source of truth for who owns which shard and where each shard's
 * processing got to. Every write that changes ownership or a checkpoint is conditional on the
 * owner and epoch the caller expects, and a lost condition comes back as `conflict`.
 */
export interface LeaseStore {
  /** Creates the table when missing; rejects when an existing table has another key schema. */
  ensureTable(): Promise<void>;
  /** Every lease and worker record of the namespace, and its leadership row (all pages); strongly consistent unless asked otherwise. */
  readNamespace(namespace: string, options?: NamespaceReadOptions): Promise<NamespaceSnapshot>;
  /**
   * The leases `owner` holds in the namespace, from the table's owner index (eventually
   * consistent, so a change of the last moment may be missing); `undefined` when the table has
   * no owner index (a table created before it existed), so the caller reads the namespace instead.
   */
  listOwnedLeases(namespace: string, owner: string): Promise<readonly OwnedLeaseRef[] | undefined>;
  getLease(namespace: string, leaseKey: string): Promise<Lease | undefined>;
  /** The leadership row alone (consistent read), for a candidate checking it the moment it may expire. */
  getLeadership(namespace: string): Promise<LeadershipRecord | undefined>;
  createLease(namespace: string, lease: NewLease): Promise<ConditionalWriteResult<Lease>>;
  /** Takes an unowned lease, or one whose owner is gone; `expected` is the lease as last read. */
  acquireLease(expected: Lease, newOwner: string): Promise<ConditionalWriteResult<Lease>>;
  /** Asks the current owner to hand the lease to `requester` once it has drained it. */
  requestHandoff(expected: Lease, requester: string): Promise<ConditionalWriteResult<Lease>>;
  /** The owner gives the lease to `newOwner` (a graceful handoff). */
  transferLease(ownership: LeaseOwnership, newOwner: string): Promise<ConditionalWriteResult<Lease>>;
  /**
   * The owner gives the lease up; anyone may take it next. Conflicts while a handoff is
   * requested, unless that request is `dropPendingOwner` (a requester found gone).
   */
  releaseLease(ownership: LeaseOwnership, options?: { readonly dropPendingOwner?: string }): Promise<ConditionalWriteResult<Lease>>;
  checkpoint(ownership: LeaseOwnership, checkpoint: Checkpoint): Promise<ConditionalWriteResult<Lease>>;
  /**
   * An operator moves the lease's checkpoint: the lease is taken from its owner in the same
   * write (epoch + 1, no owner), so a running owner is fenced out and the next owner starts at
   * `checkpoint`. `expected` is the lease as last read; a finished shard is refused.
   */
  resetCheckpoint(expected: Lease, checkpoint: Exclude<Checkpoint, { type: 'SHARD_END' }>): Promise<ConditionalWriteResult<Lease>>;
  /** Removes a lease whose shard was finished (checkpoint SHARD_END). */
  deleteFinishedLease(namespace: string, leaseKey: string): Promise<ConditionalWriteResult<void>>;

  registerWorker(namespace: string, workerId: string, registration?: WorkerRegistration): Promise<ConditionalWriteResult<WorkerRecord>>;
  /** One worker's record (consistent read); undefined when it is not registered. */
  getWorker(namespace: string, workerId: string): Promise<WorkerRecord | undefined>;
  /** Proves the worker is alive; `conflict` when its record is gone (others judged it dead). */
  heartbeatWorker(namespace: string, workerId: string): Promise<ConditionalWriteResult<WorkerRecord>>;
  markWorkerLeaving(namespace: string, workerId: string): Promise<ConditionalWriteResult<WorkerRecord>>;
  /** Records the streams the worker consumes now (a pattern matched others); `conflict` when its record is gone. */
  setWorkerStreams(namespace: string, workerId: string, streams: readonly string[]): Promise<ConditionalWriteResult<WorkerRecord>>;
  deregisterWorker(namespace: string, workerId: string): Promise<void>;
  /** Deletes a dead `table`-mode worker's record, only if its heartbeat is still the one observed. */
  removeDeadWorker(namespace: string, workerId: string, observedHeartbeat: number): Promise<ConditionalWriteResult<void>>;
  /** The worker switches how it proves liveness; `conflict` when its record is gone (it was revoked). */
  switchWorkerLiveness(
    namespace: string,
    workerId: string,
    to: WorkerLivenessMode,
    grantTerm?: number,
  ): Promise<ConditionalWriteResult<WorkerRecord>>;
  /**
   * A `nats`-mode worker that a newer leader grants points its record at that leader's term;
   * `conflict` when the record no longer names `fromTerm` (it was revoked, or moved on).
   */
  repointWorkerGrants(namespace: string, workerId: string, fromTerm: number, toTerm: number): Promise<ConditionalWriteResult<WorkerRecord>>;
  /**
   * The leader deletes a `nats`-mode worker whose grants ran out, only while the record still
   * names `grantTerm`; `conflict` if it switched modes (or to a newer term's grants) first.
   */
  revokeWorker(namespace: string, workerId: string, grantTerm: number | undefined): Promise<ConditionalWriteResult<void>>;

  /** Claims leadership: the row is absent, or still exactly `expected` (seen unchanged for a leadership duration). */
  claimLeadership(
    namespace: string,
    workerId: string,
    expected: LeadershipRecord | undefined,
  ): Promise<ConditionalWriteResult<LeadershipRecord>>;
  /** The leader keeps its term; `conflict` once another worker took over. */
  renewLeadership(held: LeadershipRecord): Promise<ConditionalWriteResult<LeadershipRecord>>;
  /** The leader steps down at shutdown so the next one need not wait for expiry. */
  resignLeadership(held: LeadershipRecord): Promise<ConditionalWriteResult<void>>;
}
