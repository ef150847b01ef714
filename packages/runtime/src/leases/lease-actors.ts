import type { Lease, LeaseOwnership, LeaseStore, Logger } from '@shoal/coordinator';
import type { ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import { fromCallback, fromPromise } from 'xstate';
import type { Clock } from '../clock.js';
import type { WorkerObserver } from '../metrics/worker-observer.js';
import { LeaseHold } from '../consumer/lease-hold.js';
import type { LivenessView } from '../consumer/liveness-view.js';
import { ShardCheckpointer } from '../consumer/shard-checkpointer.js';
import { ShardConsumer } from '../consumer/shard-consumer.js';
import { leaseMachine, type ConsumerCommand, type ConsumerInput, type ConsumerReport } from '../machines/lease-machine.js';
import { releaseLease } from './release-lease.js';
import type { RecordSourceFactory } from '../consumer/record-sources.js';

export interface LeaseActorDependencies {
  readonly store: LeaseStore;
  readonly processorFactory: ShardRecordProcessorFactory;
  /** The stream a lease's shard belongs to. */
  readonly streamOf: (lease: Lease) => string;
  readonly workerId: string;
  readonly options: {
    readonly processorRetryBaseMs: number;
    readonly processorRetryMaxMs: number;
    readonly abortGraceMs: number;
  };
  /** Makes each lease's record source: polling or enhanced fan-out. */
  readonly sources: RecordSourceFactory;
  /** Counts what each shard's consumer does, for metrics. */
  readonly observer: WorkerObserver;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The worker's liveness: every lease it holds is valid only while it is confirmed. */
  readonly liveness: LivenessView;
  /** Whether a worker is registered, active and alive, as far as this worker knows: a handoff request of any other is dropped. */
  readonly isLiveWorker: (workerId: string) => Promise<boolean>;
  /**
   * A write that would make this worker a lease's owner got no answer: it may have applied, so
   * the worker checks its own leases soon rather than leave one owned and not run.
   */
  readonly onOwnershipUncertain?: (leaseKey: string) => void;
  /** This worker asked the lease's owner to hand it over (its handoff request applied). */
  readonly onHandoffRequested?: (lease: Lease) => void;
  /** The lease left this worker: transferred to `to`, or released to anyone. */
  readonly onReleased?: (ownership: LeaseOwnership, to: string | undefined) => void;
  /** The shard was read to its end and checkpointed at SHARD_END: its children may start. */
  readonly onShardEnded?: (lease: Lease) => void;
  /** A batch of `count` records was processed. */
  readonly onProcessed?: (count: number) => void;
}

/** The lease machine with its actors bound to real DynamoDB, Kinesis and the user's processor. */
export function createLeaseMachine(deps: LeaseActorDependencies) {
  return leaseMachine.provide({
    actions: {
      warnDrainTimeout: ({ context }) =>
        deps.logger.warn(
          { shardId: context.lease.shardId, leaseKey: context.lease.leaseKey, drainTimeoutMs: context.drainTimeoutMs },
          'drain took longer than drainTimeoutMs: telling the batch in flight to stop, then giving the lease up without the final checkpoint',
        ),
      reportAbortOverrun: ({ context }) =>
        deps.logger.error(
          { shardId: context.lease.shardId, leaseKey: context.lease.leaseKey, abortGraceMs: context.abortGraceMs },
          'the processor did not stop within abortGraceMs of its abort signal; releasing the lease anyway: its side effects may overlap the next owner’s',
        ),
    },
    actors: {
      acquireLease: fromPromise(async ({ input }) => {
        try {
          return await deps.store.acquireLease(input.lease, input.workerId);
        } catch (error) {
          deps.onOwnershipUncertain?.(input.lease.leaseKey);
          throw error;
        }
      }),
      requestHandoff: fromPromise(async ({ input }) => {
        const result = await deps.store.requestHandoff(input.lease, input.workerId);
        if (result.status === 'applied') deps.onHandoffRequested?.(result.value);
        return result;
      }),
      releaseLease: fromPromise(async ({ input }) => {
        let attemptedTo: string | undefined;
        try {
          const { outcome, to } = await releaseLease(deps.store, input, deps.isLiveWorker, (target) => (attemptedTo = target));
          if (outcome !== 'lost') deps.onReleased?.(input.ownership, to);
          // A transfer whose answer was lost (or came back as a conflict after a retry) may have
          // applied: tell its target, which checks the table before it starts anything.
          else if (attemptedTo !== undefined) deps.onReleased?.(input.ownership, attemptedTo);
          return outcome;
        } catch (error) {
          if (attemptedTo !== undefined) deps.onReleased?.(input.ownership, attemptedTo);
          // It may still be this worker's, with nothing running it now.
          deps.onOwnershipUncertain?.(input.ownership.leaseKey);
          throw error;
        }
      }),
      shardConsumer: fromCallback<ConsumerCommand, ConsumerInput>(({ input, sendBack, receive }) =>
        runShardConsumer(deps, input, sendBack as (report: ConsumerReport) => void, receive),
      ),
    },
  });
}

function runShardConsumer(
  deps: LeaseActorDependencies,
  { lease, ownership }: ConsumerInput,
  report: (report: ConsumerReport) => void,
  receive: (listener: (command: ConsumerCommand) => void) => void,
): () => void {
  const streamName = deps.streamOf(lease);
  const context = { streamName, shardId: lease.shardId, leaseKey: lease.leaseKey, workerId: deps.workerId };
  const logger = deps.logger.child({
    ...(lease.streamName === undefined ? {} : { streamName }),
    shardId: lease.shardId,
    leaseKey: lease.leaseKey,
  });
  const hold = new LeaseHold(ownership, deps.liveness);
  const observer = deps.observer.shard(streamName, lease.shardId);
  const checkpointer = new ShardCheckpointer({
    store: deps.store,
    ownership,
    checkpoint: lease.checkpoint,
    onCheckpoint: (checkpoint) => {
      observer.checkpoint('written');
      report({ type: 'CONSUMER.CHECKPOINTED', checkpoint });
    },
    onRefused: () => observer.checkpoint('refused'),
    writeRefusal: () => hold.writeRefusal(),
    stopSignal: () => hold.openCall(),
  });
  let processor;
  try {
    processor = deps.processorFactory(context);
  } catch (error) {
    // Nothing ran yet: give the lease back so it is retried (here or elsewhere) after a sync.
    logger.error({ err: error }, 'processorFactory threw; releasing the lease');
    queueMicrotask(() => report({ type: 'CONSUMER.STOPPED', exit: 'requested' }));
    return () => {};
  }
  const consumer = new ShardConsumer({
    context,
    processor,
    checkpointer,
    createSource: (start) =>
      deps.sources({ streamName, shardId: lease.shardId, parentShardIds: lease.parentShardIds }, start, { observer, logger }),
    hold,
    abortGraceMs: deps.options.abortGraceMs,
    backoff: { baseMs: deps.options.processorRetryBaseMs, maxMs: deps.options.processorRetryMaxMs },
    clock: deps.clock,
    logger,
    onEvent: report,
    onProcessed: deps.onProcessed,
    observer,
  });
  receive((command) => (command.type === 'ABORT' ? consumer.abort() : consumer.requestShutdown(command.exit, command.reason)));
  let stopped = false;
  consumer
    .run()
    .then((exit) => {
      if (exit === 'shard-end' && checkpointer.checkpointed.type === 'SHARD_END') deps.onShardEnded?.(lease);
      if (!stopped) report({ type: 'CONSUMER.STOPPED', exit });
    })
    .catch((error: unknown) => {
      logger.error({ err: error }, 'shard consumer failed');
      if (!stopped) report({ type: 'CONSUMER.STOPPED', exit: 'requested' });
    });
  return () => {
    stopped = true;
    consumer.abort();
  };
}
