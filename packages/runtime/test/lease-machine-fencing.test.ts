import type { ConditionalWriteResult, Lease } from '@shoal/coordinator';
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, waitFor, type Actor } from 'xstate';
import {
  leaseMachine,
  leaseStateName,
  type ConsumerCommand,
  type ConsumerInput,
  type LeaseMachine,
} from '../src/machines/lease-machine.js';
import { workerMachine } from '../src/machines/worker-machine.js';
import { testLease } from './fakes/records.js';

const WORKER = 'worker-a';

const actors: Actor<any>[] = [];
afterEach(() => {
  for (const actor of actors.splice(0)) actor.stop();
});

/** A lease machine whose acquire the test answers, and a consumer that records whether it ran. */
function acquiringLease(lease: Lease) {
  let answer: ((result: ConditionalWriteResult<Lease>) => void) | undefined;
  const consumerStarts: ConsumerInput[] = [];
  const machine = leaseMachine.provide({
    actors: {
      acquireLease: fromPromise<ConditionalWriteResult<Lease>, { lease: Lease; workerId: string }>(
        () => new Promise((resolve) => (answer = resolve)),
      ),
      shardConsumer: fromCallback<ConsumerCommand, ConsumerInput>(({ input }) => {
        consumerStarts.push(input);
        return () => {};
      }),
    },
  });
  return { machine, consumerStarts, answer: (result: ConditionalWriteResult<Lease>) => answer!(result) };
}

describe('a worker fenced while an acquire is in flight', () => {
  it('does not start processing a lease whose acquire lands after LEASE.LOST (self-fence, revocation)', async () => {
    const lease = testLease();
    const { machine, consumerStarts, answer } = acquiringLease(lease);
    const actor: Actor<LeaseMachine> = createActor(machine, {
      input: { lease, workerId: WORKER, mode: 'acquire', drainTimeoutMs: 10_000, handoffWaitMs: 30_000, abortGraceMs: 500 },
    });
    actors.push(actor);
    actor.start();
    expect(leaseStateName(actor.getSnapshot())).toBe('pending.acquiring');

    // recoverFromRevocation() / the table self-fence: WORKER.FENCED → LEASE.LOST to every machine.
    actor.send({ type: 'LEASE.LOST', reason: 'worker liveness unconfirmed (self-fenced)' });
    // The acquire sent before the deadline (up to dynamoDbRequestTimeoutMs = 2 s in flight, while
    // the nats-mode margin between self-fence and revocation is only 0.5 s) lands afterwards.
    answer({ status: 'applied', value: { ...lease, leaseOwner: WORKER, leaseCounter: lease.leaseCounter + 1 } });
    await new Promise((resolve) => setTimeout(resolve, 20));

    // The machine ended on LEASE.LOST: it neither owns the lease nor runs a consumer at an epoch
    // the leader treats as a revoked worker's (free at once).
    expect(leaseStateName(actor.getSnapshot())).not.toMatch(/^owned/);
    expect(consumerStarts).toHaveLength(0);
  });

  it('the worker machine forwards WORKER.FENCED as LEASE.LOST, which a pending lease machine drops', async () => {
    const lease = testLease();
    const { machine, consumerStarts, answer } = acquiringLease(lease);
    const worker = createActor(
      workerMachine.provide({
        actors: {
          leaseMachine: machine,
          startup: fromPromise(async () => {}),
          coordinator: fromCallback(() => () => {}),
        },
      }),
      { input: { workerId: WORKER, drainTimeoutMs: 10_000, handoffWaitMs: 30_000, abortGraceMs: 500, shutdownTimeoutMs: 20_000 } },
    );
    actors.push(worker);
    worker.start();
    await waitFor(worker, (snapshot) => snapshot.matches({ active: 'running' }));
    worker.send({ type: 'LEASE.START', lease, mode: 'acquire' });
    worker.send({ type: 'WORKER.FENCED' });
    answer({ status: 'applied', value: { ...lease, leaseOwner: WORKER, leaseCounter: lease.leaseCounter + 1 } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const ref = worker.getSnapshot().context.leases[lease.leaseKey];
    expect(ref ? leaseStateName(ref.getSnapshot()) : 'gone').not.toMatch(/^owned/);
    expect(consumerStarts).toHaveLength(0);
  });
});
