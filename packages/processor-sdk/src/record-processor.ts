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

/**
 * The lease one processor call runs under, for fencing the call's side effects.
 *
 * Shoal lets another worker own the lease only after this worker's deadline has passed and a
 * further `abortGraceMs` has gone by. So side effects never overlap the next owner's when the
 * processor checks `isValid()` (or `throwIfInvalid()`) right before each one, and stops work in
 * flight within `abortGraceMs` once `signal` aborts. A sink that can write conditionally can
 * also fence on its own: store `leaseCounter` with what it writes and refuse a lower one.
 */
export interface HeldLease {
  readonly leaseKey: string;
  /** The worker that holds the lease: this one. */
  readonly owner: string;
  /** The fencing epoch: it grows with every change of owner, so a later owner's is always higher. */
  readonly leaseCounter: number;
  /** Aborts once this call must stop: the lease's deadline passed, the lease was lost, or its drain timed out. */
  readonly signal: AbortSignal;
  /**
   * True while side effects may be made. Synchronous and read from the clocks at the moment of
   * the call, so a process resumed from a pause sees at once that its time is up, before any
   * timer or I/O callback has run.
   */
  isValid(): boolean;
  /** Throws `LeaseLostError` unless `isValid()`. */
  throwIfInvalid(): void;
  /** How long the lease holds at least, unless the worker's liveness is confirmed again meanwhile; 0 once invalid. */
  remainingMs(): number;
}

/** What every processor call gets besides its own input: the lease it runs under. */
export interface LeaseScoped {
  readonly lease: HeldLease;
  /** The same as `lease.signal`: pass it to anything that takes an `AbortSignal`. */
  readonly signal: AbortSignal;
}

export interface InitializationInput extends ShardContext, LeaseScoped {
  /** Where processing resumes: the stored checkpoint, or the initial position for a new lease. */
  readonly checkpoint: Checkpoint;
}

export interface ProcessRecordsInput extends ShardContext, LeaseScoped {
  /** In shard order; never empty. */
  readonly records: readonly KinesisRecord[];
  readonly checkpointer: Checkpointer;
  /** How far the last GetRecords call was behind the tip of the shard, when Kinesis reported it. */
  readonly millisBehindLatest: number | undefined;
}

/** `lease.isValid()` is false here: another worker may own the shard already. */
export interface LeaseLostInput extends ShardContext, LeaseScoped {}

export interface ShardEndedInput extends ShardContext, LeaseScoped {
  /** Call `checkpointer.checkpoint()` to record SHARD_END; children start only after it. */
  readonly checkpointer: Checkpointer;
  readonly childShardIds: readonly string[];
}

/**
 * Why the lease is being given up while this worker still owns it: handed to another worker,
 * this worker is shutting down, or the application no longer consumes the lease's stream.
 */
export type ShutdownRequestReason = 'handoff' | 'worker-shutdown' | 'stream-removed';

export interface ShutdownRequestedInput extends ShardContext, LeaseScoped {
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
 * Every call gets the `lease` it runs under and its `signal`. Check `lease.isValid()` before
 * each side effect and honour `signal` (see {@link HeldLease}): that is what keeps this worker's
 * side effects from overlapping the next owner's after a failure.
 *
 * If `processRecords` throws, the batch is delivered again after a backoff, less the records
 * checkpointed before the throw; the checkpoint never moves past records that were not
 * processed. Only `shardEnded` and `shutdownRequested`
 * may checkpoint at the end: after `leaseLost` another worker owns the shard. When the lease is
 * drained (a handoff, a shutdown), the batch in hand finishes and, if the shard was caught up,
 * one more batch with the records at its tip comes before `shutdownRequested`.
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
