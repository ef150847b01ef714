import type { ConditionalWriteResult, Lease } from '@shoal/coordinator';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock, createActor, fromCallback, fromPromise, waitFor, type Actor } from 'xstate';
import {
  leaseMachine,
  leaseStateName,
  type ConsumerCommand,
  type ConsumerInput,
  type ConsumerReport,
  type LeaseMachine,
  type LeaseMachineMode,
  type ReleaseInput,
  type ReleaseOutcome,
} from '../src/machines/lease-machine.js';
import { sequenceCheckpoint, testLease } from './fakes/records.js';

const WORKER = 'worker-a';
const DRAIN_TIMEOUT_MS = 10_000;
const ABORT_GRACE_MS = 500;
const HANDOFF_WAIT_MS = 30_000;

type LeaseRequest = { lease: Lease; workerId: string };

/** A promise actor whose every run waits until the test settles it. */
class ControlledPromise<TOutput, TInput> {
  readonly runs: { input: TInput; signal: AbortSignal; resolve: (output: TOutput) => void; reject: (error: unknown) => void }[] = [];
  readonly logic = fromPromise<TOutput, TInput>(
    ({ input, signal }) => new Promise<TOutput>((resolve, reject) => this.runs.push({ input, signal, resolve, reject })),
  );

  get last() {
    const run = this.runs[this.runs.length - 1];
    if (!run) throw new Error('the actor was never started');
    return run;
  }
}

/**
 * Stands in for the shard consumer: records what it was started with and every command the
 * lease machine sends it, and lets the test report back as the real consumer would.
 */
class FakeConsumer {
  readonly inputs: ConsumerInput[] = [];
  readonly commands: ConsumerCommand[] = [];
  stops = 0;
  private sendBack: ((report: ConsumerReport) => void) | undefined;

  readonly logic = fromCallback<ConsumerCommand, ConsumerInput>(({ input, sendBack, receive }) => {
    this.inputs.push(input);
    this.sendBack = sendBack;
    receive((command) => this.commands.push(command));
    return () => {
      this.stops += 1;
    };
  });

  get started(): boolean {
    return this.inputs.length > 0;
  }

  report(report: ConsumerReport): void {
    if (!this.sendBack) throw new Error('the consumer was never started');
    this.sendBack(report);
  }
}

interface Harness {
  readonly actor: Actor<LeaseMachine>;
  readonly lease: Lease;
  readonly consumer: FakeConsumer;
  readonly acquire: ControlledPromise<ConditionalWriteResult<Lease>, LeaseRequest>;
  readonly handoff: ControlledPromise<ConditionalWriteResult<Lease>, LeaseRequest>;
  readonly release: ControlledPromise<ReleaseOutcome, ReleaseInput>;
  readonly clock: SimulatedClock;
  /** Lease keys whose drain timed out (the warning the worker logs). */
  readonly drainTimeouts: string[];
  /** Lease keys whose processor ignored its abort signal (the error the worker logs). */
  readonly abortOverruns: string[];
  state(): string;
  reach(state: string): Promise<void>;
}

const started: Actor<LeaseMachine>[] = [];

afterEach(() => {
  for (const actor of started.splice(0)) actor.stop();
});

function startLeaseMachine(mode: LeaseMachineMode, lease: Lease = testLease()): Harness {
  const consumer = new FakeConsumer();
  const acquire = new ControlledPromise<ConditionalWriteResult<Lease>, LeaseRequest>();
  const handoff = new ControlledPromise<ConditionalWriteResult<Lease>, LeaseRequest>();
  const release = new ControlledPromise<ReleaseOutcome, ReleaseInput>();
  const clock = new SimulatedClock();
  const drainTimeouts: string[] = [];
  const abortOverruns: string[] = [];
  const machine = leaseMachine.provide({
    actions: {
      warnDrainTimeout: ({ context }) => void drainTimeouts.push(context.lease.leaseKey),
      reportAbortOverrun: ({ context }) => void abortOverruns.push(context.lease.leaseKey),
    },
    actors: { acquireLease: acquire.logic, requestHandoff: handoff.logic, releaseLease: release.logic, shardConsumer: consumer.logic },
  });
  const actor = createActor(machine, {
    clock,
    input: {
      lease,
      workerId: WORKER,
      mode,
      drainTimeoutMs: DRAIN_TIMEOUT_MS,
      handoffWaitMs: HANDOFF_WAIT_MS,
      abortGraceMs: ABORT_GRACE_MS,
    },
  });
  started.push(actor);
  actor.start();
  const state = () => leaseStateName(actor.getSnapshot());
  return {
    actor,
    lease,
    consumer,
    acquire,
    handoff,
    release,
    clock,
    state,
    drainTimeouts,
    abortOverruns,
    reach: async (name) => {
      await waitFor(actor, (snapshot) => leaseStateName(snapshot) === name, { timeout: 5_000 });
    },
  };
}

/** The lease as the table returns it after `owner` took it: owner set, counter bumped. */
function takenBy(lease: Lease, owner = WORKER): Lease {
  return { ...lease, leaseOwner: owner, leaseCounter: lease.leaseCounter + 1 };
}

/** A lease machine that acquired its lease and whose consumer reported it is processing. */
async function processingLease(): Promise<Harness & { owned: Lease }> {
  const harness = startLeaseMachine('acquire');
  const owned = takenBy(harness.lease);
  harness.acquire.last.resolve({ status: 'applied', value: owned });
  await harness.reach('owned.initializing');
  harness.consumer.report({ type: 'CONSUMER.PROCESSING' });
  expect(harness.state()).toBe('owned.processing');
  return { ...harness, owned };
}

describe('lease machine: pending', () => {
  it('acquires the lease, then follows the consumer through initializing, processing and backoff', async () => {
    const { acquire, consumer, actor, lease, state, reach } = startLeaseMachine('acquire');
    expect(state()).toBe('pending.acquiring');
    expect(acquire.last.input).toEqual({ lease, workerId: WORKER });
    expect(consumer.started).toBe(false);

    const owned = { ...takenBy(lease), checkpoint: sequenceCheckpoint(7) };
    acquire.last.resolve({ status: 'applied', value: owned });
    await reach('owned.initializing');

    const ownership = { namespace: lease.namespace, leaseKey: lease.leaseKey, leaseOwner: WORKER, leaseCounter: owned.leaseCounter };
    expect(actor.getSnapshot().context).toMatchObject({ lease: owned, ownership, checkpoint: sequenceCheckpoint(7) });
    expect(consumer.inputs).toEqual([{ lease: owned, ownership }]);

    consumer.report({ type: 'CONSUMER.PROCESSING' });
    expect(state()).toBe('owned.processing');
    consumer.report({ type: 'CONSUMER.BACKOFF', error: 'processRecords failed', delayMs: 100 });
    expect(state()).toBe('owned.backoff');
    consumer.report({ type: 'CONSUMER.PROCESSING' });
    expect(state()).toBe('owned.processing');
    expect(consumer.inputs).toHaveLength(1);
  });

  it('ends as not-acquired when the acquiring write meets a conflict', async () => {
    const { acquire, consumer, actor, reach } = startLeaseMachine('acquire');
    acquire.last.resolve({ status: 'conflict' });
    await reach('ended');
    expect(actor.getSnapshot().context.endReason).toBe('not-acquired');
    expect(actor.getSnapshot().status).toBe('done');
    expect(consumer.started).toBe(false);
  });

  it('ends as not-acquired when the acquiring write fails', async () => {
    const { acquire, consumer, actor, reach } = startLeaseMachine('acquire');
    acquire.last.reject(new Error('DynamoDB unavailable'));
    await reach('ended');
    expect(actor.getSnapshot().context.endReason).toBe('not-acquired');
    expect(consumer.started).toBe(false);
  });

  it('requests a handoff, waits for it, and owns the lease once LEASE.ACQUIRED arrives', async () => {
    const { handoff, acquire, consumer, actor, lease, state, reach } = startLeaseMachine('request-handoff');
    expect(state()).toBe('pending.requestingHandoff');
    expect(handoff.last.input).toEqual({ lease, workerId: WORKER });
    expect(acquire.runs).toHaveLength(0);

    const requested = { ...lease, leaseOwner: 'worker-b', pendingOwner: WORKER };
    handoff.last.resolve({ status: 'applied', value: requested });
    await reach('pending.awaitingHandoff');
    expect(actor.getSnapshot().context.lease).toEqual(requested);
    expect(consumer.started).toBe(false);

    const transferred = { ...takenBy(requested), pendingOwner: undefined, checkpoint: sequenceCheckpoint(42) };
    actor.send({ type: 'LEASE.ACQUIRED', lease: transferred });
    expect(state()).toBe('owned.initializing');
    expect(actor.getSnapshot().context).toMatchObject({
      lease: transferred,
      ownership: { leaseOwner: WORKER, leaseCounter: transferred.leaseCounter },
      checkpoint: sequenceCheckpoint(42),
    });
    expect(consumer.inputs[0]?.ownership.leaseCounter).toBe(transferred.leaseCounter);
  });

  it('ignores a LEASE.ACQUIRED read no newer than the lease it already saw, and takes the transfer after it', async () => {
    const { handoff, actor, lease, state, reach } = startLeaseMachine('request-handoff');
    const requested = { ...lease, leaseOwner: 'worker-b', leaseCounter: 5, pendingOwner: WORKER };
    handoff.last.resolve({ status: 'applied', value: requested });
    await reach('pending.awaitingHandoff');

    // A read from before this worker's own earlier release still names it as the owner at epoch 4.
    actor.send({ type: 'LEASE.ACQUIRED', lease: { ...lease, leaseOwner: WORKER, leaseCounter: 4, pendingOwner: undefined } });
    expect(state()).toBe('pending.awaitingHandoff');
    // Another worker's ownership is not this worker's either.
    actor.send({ type: 'LEASE.ACQUIRED', lease: { ...requested, leaseOwner: 'worker-c', leaseCounter: 6 } });
    expect(state()).toBe('pending.awaitingHandoff');

    actor.send({ type: 'LEASE.ACQUIRED', lease: { ...requested, leaseOwner: WORKER, leaseCounter: 6, pendingOwner: undefined } });
    expect(state()).toBe('owned.initializing');
    expect(actor.getSnapshot().context.ownership?.leaseCounter).toBe(6);
  });

  it('ignores a decline read from before its own request landed (same epoch, no pending owner)', async () => {
    const { handoff, actor, lease, state, reach } = startLeaseMachine('request-handoff');
    const requested = { ...lease, leaseOwner: 'worker-b', leaseCounter: 5, pendingOwner: WORKER };
    handoff.last.resolve({ status: 'applied', value: requested });
    await reach('pending.awaitingHandoff');

    actor.send({ type: 'LEASE.HANDOFF_DECLINED', lease: { ...requested, pendingOwner: undefined } });
    expect(state()).toBe('pending.awaitingHandoff');
    // A later request by another worker, or a change of owner, does end the wait.
    actor.send({ type: 'LEASE.HANDOFF_DECLINED', lease: { ...requested, pendingOwner: 'worker-c' } });
    expect(state()).toBe('ended');
    expect(actor.getSnapshot().context.endReason).toBe('not-acquired');
  });

  it('ends the wait when the lease changed owner (a newer epoch) without coming here', async () => {
    const { handoff, actor, lease, reach } = startLeaseMachine('request-handoff');
    const requested = { ...lease, leaseOwner: 'worker-b', leaseCounter: 5, pendingOwner: WORKER };
    handoff.last.resolve({ status: 'applied', value: requested });
    await reach('pending.awaitingHandoff');
    actor.send({
      type: 'LEASE.HANDOFF_DECLINED',
      lease: { ...requested, leaseOwner: undefined, leaseCounter: 6, pendingOwner: undefined },
    });
    await reach('ended');
  });

  /** A machine that asked `worker-dead` for the lease, then learnt that `worker-dead` is gone. */
  async function takingFromGoneOwner() {
    const machine = startLeaseMachine('request-handoff');
    const requested = { ...machine.lease, leaseOwner: 'worker-dead', leaseCounter: 5, pendingOwner: WORKER };
    machine.handoff.last.resolve({ status: 'applied', value: requested });
    await machine.reach('pending.awaitingHandoff');
    machine.actor.send({ type: 'LEASE.TAKE', lease: requested });
    expect(machine.state()).toBe('pending.acquiring');
    return { ...machine, requested };
  }

  it('takes the lease instead when the owner it waits on for a handoff is gone', async () => {
    const { acquire, requested, reach } = await takingFromGoneOwner();
    expect(acquire.last.input).toEqual({ lease: requested, workerId: WORKER });
    acquire.last.resolve({ status: 'applied', value: takenBy(requested) });
    await reach('owned.initializing');
  });

  it('keeps a lease handed over to it while the take that replaced the handoff is in flight', async () => {
    const { acquire, actor, requested, reach } = await takingFromGoneOwner();
    // The old owner's release, already under way, transferred the lease here after all.
    actor.send({ type: 'LEASE.ACQUIRED', lease: { ...requested, leaseOwner: WORKER, leaseCounter: 6, pendingOwner: undefined } });
    acquire.last.resolve({ status: 'conflict' });
    await reach('owned.initializing');
    expect(actor.getSnapshot().context.ownership?.leaseCounter).toBe(6);
  });

  it('takes a lease handed over to it while its own handoff request is in flight (the leader planned the same move)', async () => {
    const { handoff, actor, lease, state, reach } = startLeaseMachine('request-handoff');
    expect(state()).toBe('pending.requestingHandoff');
    actor.send({ type: 'LEASE.ACQUIRED', lease: { ...lease, leaseOwner: WORKER, leaseCounter: lease.leaseCounter + 1 } });
    await reach('owned.initializing');
    // The request, made on the old epoch, conflicts: too late to matter.
    handoff.last.resolve({ status: 'conflict' });
    expect(state()).toBe('owned.initializing');
  });

  it('ends as not-acquired when the handoff request meets a conflict', async () => {
    const { handoff, actor, reach } = startLeaseMachine('request-handoff');
    handoff.last.resolve({ status: 'conflict' });
    await reach('ended');
    expect(actor.getSnapshot().context.endReason).toBe('not-acquired');
  });

  it('gives up waiting for a handoff after handoffWaitMs', async () => {
    const { handoff, clock, actor, lease, state, reach } = startLeaseMachine('request-handoff');
    handoff.last.resolve({ status: 'applied', value: { ...lease, pendingOwner: WORKER } });
    await reach('pending.awaitingHandoff');

    clock.increment(HANDOFF_WAIT_MS - 1);
    expect(state()).toBe('pending.awaitingHandoff');
    clock.increment(1);
    expect(state()).toBe('ended');
    expect(actor.getSnapshot().context.endReason).toBe('handoff-timeout');
  });

  it('adopts a lease it already owns without writing, straight into owned', () => {
    const lease = testLease({ leaseOwner: WORKER, leaseCounter: 9, checkpoint: sequenceCheckpoint(3) });
    const { acquire, handoff, consumer, actor, state } = startLeaseMachine('adopt', lease);
    expect(state()).toBe('owned.initializing');
    expect(acquire.runs).toHaveLength(0);
    expect(handoff.runs).toHaveLength(0);
    const ownership = { namespace: lease.namespace, leaseKey: lease.leaseKey, leaseOwner: WORKER, leaseCounter: 9 };
    expect(actor.getSnapshot().context.ownership).toEqual(ownership);
    expect(consumer.inputs).toEqual([{ lease, ownership }]);
  });

  it('is cancelled by DRAIN while acquiring, aborting the acquire call', () => {
    const { acquire, consumer, actor, state } = startLeaseMachine('acquire');
    actor.send({ type: 'DRAIN', reason: 'worker-shutdown' });
    expect(state()).toBe('ended');
    expect(actor.getSnapshot().context.endReason).toBe('cancelled');
    expect(acquire.last.signal.aborted).toBe(true);
    expect(consumer.started).toBe(false);
  });

  it('is cancelled by DRAIN while awaiting a handoff', async () => {
    const { handoff, actor, lease, state, reach } = startLeaseMachine('request-handoff');
    handoff.last.resolve({ status: 'applied', value: { ...lease, pendingOwner: WORKER } });
    await reach('pending.awaitingHandoff');
    actor.send({ type: 'DRAIN', reason: 'worker-shutdown' });
    expect(state()).toBe('ended');
    expect(actor.getSnapshot().context.endReason).toBe('cancelled');
  });
});

describe('lease machine: draining and releasing', () => {
  it('drains on DRAIN: the consumer is asked to shut down with the reason', async () => {
    const { actor, consumer, state } = await processingLease();
    actor.send({ type: 'DRAIN', reason: 'handoff', handoffTo: 'worker-b' });
    expect(state()).toBe('draining');
    expect(consumer.commands).toEqual([{ type: 'SHUTDOWN', exit: 'requested', reason: 'handoff' }]);
    expect(actor.getSnapshot().context).toMatchObject({ drainReason: 'handoff', handoffTo: 'worker-b' });
    expect(consumer.stops).toBe(0);
  });

  it('hands the lease off to the requester once the consumer stopped', async () => {
    const { actor, consumer, release, owned, state, reach } = await processingLease();
    actor.send({ type: 'DRAIN', reason: 'handoff', handoffTo: 'worker-b' });
    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'requested' });
    expect(state()).toBe('releasing');
    expect(release.last.input).toEqual({
      ownership: { namespace: owned.namespace, leaseKey: owned.leaseKey, leaseOwner: WORKER, leaseCounter: owned.leaseCounter },
      handoffTo: 'worker-b',
    });

    release.last.resolve('transferred');
    await reach('ended');
    expect(actor.getSnapshot().context.endReason).toBe('handed-off');
    expect(consumer.stops).toBe(1);
  });

  it('ends as released when nobody was waiting for the lease', async () => {
    const { actor, consumer, release, reach } = await processingLease();
    actor.send({ type: 'DRAIN', reason: 'worker-shutdown' });
    expect(consumer.commands).toEqual([{ type: 'SHUTDOWN', exit: 'requested', reason: 'worker-shutdown' }]);
    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'requested' });
    expect(release.last.input.handoffTo).toBeUndefined();
    release.last.resolve('released');
    await reach('ended');
    expect(actor.getSnapshot().context.endReason).toBe('released');
  });

  it('is stolen when the lease changed hands before the release', async () => {
    const { actor, consumer, release, reach } = await processingLease();
    actor.send({ type: 'DRAIN', reason: 'worker-shutdown' });
    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'requested' });
    release.last.resolve('lost');
    await reach('stolen');
    expect(actor.getSnapshot().context.lostReason).toMatch(/changed hands/);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('ends as release-failed when the release write fails', async () => {
    const { actor, consumer, release, reach } = await processingLease();
    actor.send({ type: 'DRAIN', reason: 'worker-shutdown' });
    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'requested' });
    release.last.reject(new Error('DynamoDB unavailable'));
    await reach('ended');
    expect(actor.getSnapshot().context.endReason).toBe('release-failed');
  });

  it('when the drain times out, aborts the batch in flight and releases once the consumer stopped', async () => {
    const { actor, consumer, release, clock, state, reach, drainTimeouts, abortOverruns, lease } = await processingLease();
    actor.send({ type: 'DRAIN', reason: 'worker-shutdown' });

    clock.increment(DRAIN_TIMEOUT_MS - 1);
    expect(state()).toBe('draining');
    clock.increment(1);
    // The next owner must not start beside the batch in flight: it is told to stop, and the lease waits.
    expect(state()).toBe('aborting');
    expect(consumer.commands.at(-1)).toEqual({ type: 'ABORT' });
    expect(release.runs).toHaveLength(0);
    expect(drainTimeouts).toEqual([lease.leaseKey]);

    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'requested' });
    expect(state()).toBe('releasing');
    release.last.resolve('released');
    await reach('ended');
    expect(actor.getSnapshot().context.endReason).toBe('released');
    expect(abortOverruns).toEqual([]);
  });

  it('when the aborted batch overruns abortGraceMs, reports it, stops the consumer and releases', async () => {
    const { actor, consumer, release, clock, state, abortOverruns, lease } = await processingLease();
    actor.send({ type: 'DRAIN', reason: 'worker-shutdown' });
    clock.increment(DRAIN_TIMEOUT_MS);
    clock.increment(ABORT_GRACE_MS - 1);
    expect(state()).toBe('aborting');
    clock.increment(1);
    expect(state()).toBe('releasing');
    expect(abortOverruns).toEqual([lease.leaseKey]);
    expect(consumer.stops).toBe(1);
    expect(release.runs).toHaveLength(1);
  });

  it('keeps the latest handoff target when a second DRAIN arrives while draining', async () => {
    const { actor, consumer, release } = await processingLease();
    actor.send({ type: 'DRAIN', reason: 'worker-shutdown' });
    actor.send({ type: 'DRAIN', reason: 'handoff', handoffTo: 'worker-c' });
    expect(consumer.commands).toHaveLength(1);
    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'requested' });
    expect(release.last.input.handoffTo).toBe('worker-c');
  });

  it('releases when the consumer stops on its own while owned', async () => {
    const { consumer, state } = await processingLease();
    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'requested' });
    expect(state()).toBe('releasing');
  });
});

describe('lease machine: losing the lease and shard end', () => {
  it('tells the consumer the lease is lost and becomes stolen once it stopped', async () => {
    const { actor, consumer, release, state } = await processingLease();
    actor.send({ type: 'LEASE.LOST', reason: 'taken over by worker-b' });
    expect(state()).toBe('losing');
    expect(consumer.commands).toEqual([{ type: 'SHUTDOWN', exit: 'lease-lost' }]);
    expect(actor.getSnapshot().context.lostReason).toBe('taken over by worker-b');

    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'lease-lost' });
    expect(state()).toBe('stolen');
    expect(actor.getSnapshot().status).toBe('done');
    expect(release.runs).toHaveLength(0);
  });

  it('loses the lease while draining too', async () => {
    const { actor, consumer, state } = await processingLease();
    actor.send({ type: 'DRAIN', reason: 'handoff' });
    actor.send({ type: 'LEASE.LOST', reason: 'fenced' });
    expect(state()).toBe('losing');
    expect(consumer.commands.map((command) => (command.type === 'SHUTDOWN' ? command.exit : command.type))).toEqual([
      'requested',
      'lease-lost',
    ]);
  });

  it('becomes stolen with the consumer stopped when the consumer does not stop in time after a loss', async () => {
    const { actor, consumer, clock, state } = await processingLease();
    actor.send({ type: 'LEASE.LOST', reason: 'fenced' });
    clock.increment(DRAIN_TIMEOUT_MS);
    expect(state()).toBe('stolen');
    expect(consumer.stops).toBe(1);
  });

  it('becomes stolen when the consumer stops because its checkpoint was fenced', async () => {
    const { actor, consumer, release, state } = await processingLease();
    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'lease-lost' });
    expect(state()).toBe('stolen');
    expect(actor.getSnapshot().context.lostReason).toBe('checkpoint refused or liveness unconfirmed');
    expect(release.runs).toHaveLength(0);
  });

  it('ends at shard end without releasing when the consumer finished the shard', async () => {
    const { actor, consumer, release, state } = await processingLease();
    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'shard-end' });
    expect(state()).toBe('ended');
    expect(actor.getSnapshot().context.endReason).toBe('shard-end');
    expect(release.runs).toHaveLength(0);
  });

  it('ends at shard end when the consumer finished the shard while draining', async () => {
    const { actor, consumer, release, state } = await processingLease();
    actor.send({ type: 'DRAIN', reason: 'worker-shutdown' });
    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'shard-end' });
    expect(state()).toBe('ended');
    expect(actor.getSnapshot().context.endReason).toBe('shard-end');
    expect(release.runs).toHaveLength(0);
  });
});

describe('lease machine: context and names', () => {
  it('records every checkpoint the consumer reports', async () => {
    const { actor, consumer } = await processingLease();
    consumer.report({ type: 'CONSUMER.CHECKPOINTED', checkpoint: sequenceCheckpoint(10) });
    expect(actor.getSnapshot().context.checkpoint).toEqual(sequenceCheckpoint(10));

    actor.send({ type: 'DRAIN', reason: 'worker-shutdown' });
    consumer.report({ type: 'CONSUMER.CHECKPOINTED', checkpoint: sequenceCheckpoint(11, 2) });
    expect(actor.getSnapshot().context.checkpoint).toEqual(sequenceCheckpoint(11, 2));
  });

  it('names states with dots for nested ones', async () => {
    const { actor, consumer, acquire, state, reach } = startLeaseMachine('acquire');
    expect(state()).toBe('pending.acquiring');
    acquire.last.resolve({ status: 'applied', value: takenBy(actor.getSnapshot().context.lease) });
    await reach('owned.initializing');
    consumer.report({ type: 'CONSUMER.PROCESSING' });
    expect(state()).toBe('owned.processing');
    actor.send({ type: 'DRAIN', reason: 'worker-shutdown' });
    expect(state()).toBe('draining');
    consumer.report({ type: 'CONSUMER.STOPPED', exit: 'shard-end' });
    expect(state()).toBe('ended');
  });
});
