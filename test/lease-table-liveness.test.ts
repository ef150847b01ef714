import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDbLeaseStore,
  LivenessGrants,
  leaseNamespace,
  type ConditionalWriteResult,
  type LeadershipRecord,
  type WorkerRecord,
} from '@shoal/coordinator';
import { LocalStack, uniqueName } from '@shoal/local-stack';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

// The liveness-mode and leadership conditional writes, against dynalite (LocalStack, one child
// process for the file, one table per test).

let stack: LocalStack;
const extraClients: DynamoDBClient[] = [];

beforeAll(async () => {
  stack = await LocalStack.start();
});

afterAll(async () => {
  for (const client of extraClients.splice(0)) client.destroy();
  await stack?.stop();
});

afterEach(() => {
  for (const client of extraClients.splice(0)) client.destroy();
});

/** A client on its own connection pool, as another worker process (or the leader) would have. */
function newClient(): DynamoDBClient {
  const client = new DynamoDBClient(stack.clientConfig('dynamodb'));
  extraClients.push(client);
  return client;
}

async function newStore(): Promise<{ store: DynamoDbLeaseStore; tableName: string }> {
  const tableName = uniqueName('leases');
  const store = new DynamoDbLeaseStore({ client: stack.dynamodb, tableName });
  await store.ensureTable();
  return { store, tableName };
}

function applied<T>(result: ConditionalWriteResult<T>): T {
  if (result.status !== 'applied') throw new Error('expected the conditional write to apply, got a conflict');
  return result.value;
}

async function workerRecord(store: DynamoDbLeaseStore, namespace: string, workerId: string): Promise<WorkerRecord | undefined> {
  return (await store.readNamespace(namespace)).workers.find((worker) => worker.workerId === workerId);
}

async function leadershipRow(store: DynamoDbLeaseStore, namespace: string): Promise<LeadershipRecord | undefined> {
  return (await store.readNamespace(namespace)).leadership;
}

describe('worker liveness modes', () => {
  const namespace = leaseNamespace('billing', 'orders');

  it('a switch back to table and a revocation race: exactly one applies, round after round', async () => {
    const { tableName } = await newStore();
    // The worker and the leader each on their own client, as in two processes.
    const worker = new DynamoDbLeaseStore({ client: newClient(), tableName });
    const leader = new DynamoDbLeaseStore({ client: newClient(), tableName });
    const outcomes = { switched: 0, revoked: 0 };

    for (let round = 0; round < 12; round++) {
      const workerId = `worker-${round}`;
      const term = round + 1;
      applied(await worker.registerWorker(namespace, workerId));
      applied(await worker.switchWorkerLiveness(namespace, workerId, 'nats', term));

      // Alternate which request is sent first so both orders get exercised.
      const [switched, revoked] =
        round % 2 === 0
          ? await Promise.all([worker.switchWorkerLiveness(namespace, workerId, 'table'), leader.revokeWorker(namespace, workerId, term)])
          : await Promise.all([
              leader.revokeWorker(namespace, workerId, term),
              worker.switchWorkerLiveness(namespace, workerId, 'table'),
            ]).then(([r, s]) => [s, r] as const);

      expect([switched.status, revoked.status].sort(), `round ${round}`).toEqual(['applied', 'conflict']);
      const stored = await workerRecord(worker, namespace, workerId);
      if (switched.status === 'applied') {
        outcomes.switched += 1;
        expect(switched.value).toMatchObject({ workerId, liveness: 'table', grantTerm: undefined });
        expect(stored).toEqual(switched.value);
      } else {
        outcomes.revoked += 1;
        expect(stored).toBeUndefined();
        // The revoked worker learns it from its next write.
        expect(await worker.heartbeatWorker(namespace, workerId)).toEqual({ status: 'conflict' });
      }
    }
    expect(outcomes.switched + outcomes.revoked).toBe(12);
  });

  it('a revocation naming a stale (or no) grant term conflicts and leaves the record', async () => {
    const { store } = await newStore();
    applied(await store.registerWorker(namespace, 'worker-a'));
    const nats = applied(await store.switchWorkerLiveness(namespace, 'worker-a', 'nats', 5));

    expect(await store.revokeWorker(namespace, 'worker-a', 4)).toEqual({ status: 'conflict' });
    expect(await store.revokeWorker(namespace, 'worker-a', 6)).toEqual({ status: 'conflict' });
    expect(await store.revokeWorker(namespace, 'worker-a', undefined)).toEqual({ status: 'conflict' });
    expect(await workerRecord(store, namespace, 'worker-a')).toEqual(nats);

    // A table-mode worker is never revoked, whatever term is named.
    applied(await store.registerWorker(namespace, 'worker-b'));
    expect(await store.revokeWorker(namespace, 'worker-b', 5)).toEqual({ status: 'conflict' });
    expect(await store.revokeWorker(namespace, 'worker-b', undefined)).toEqual({ status: 'conflict' });
    expect(await workerRecord(store, namespace, 'worker-b')).toMatchObject({ liveness: 'table' });

    // The right term revokes, once.
    expect(await store.revokeWorker(namespace, 'worker-a', 5)).toEqual({ status: 'applied', value: undefined });
    expect(await workerRecord(store, namespace, 'worker-a')).toBeUndefined();
    expect(await store.revokeWorker(namespace, 'worker-a', 5)).toEqual({ status: 'conflict' });
    expect(await store.revokeWorker(namespace, 'worker-never', 5)).toEqual({ status: 'conflict' });
  });

  it('removeDeadWorker refuses a nats-mode record even with the heartbeat it has', async () => {
    const { store } = await newStore();
    applied(await store.registerWorker(namespace, 'worker-a'));
    const nats = applied(await store.switchWorkerLiveness(namespace, 'worker-a', 'nats', 2));
    expect(nats.heartbeat).toBe(1);

    expect(await store.removeDeadWorker(namespace, 'worker-a', nats.heartbeat)).toEqual({ status: 'conflict' });
    expect(await workerRecord(store, namespace, 'worker-a')).toEqual(nats);

    // Back on table heartbeats, the same judgement applies with the heartbeat then observed.
    const table = applied(await store.switchWorkerLiveness(namespace, 'worker-a', 'table'));
    expect(await store.removeDeadWorker(namespace, 'worker-a', nats.heartbeat)).toEqual({ status: 'conflict' });
    expect(await store.removeDeadWorker(namespace, 'worker-a', table.heartbeat)).toEqual({ status: 'applied', value: undefined });
    expect(await workerRecord(store, namespace, 'worker-a')).toBeUndefined();
  });

  it('a switch to nats stores the grant term; a switch to table removes it and counts as a heartbeat', async () => {
    const { store } = await newStore();
    const registered = applied(await store.registerWorker(namespace, 'worker-a', { host: 'host-1' }));
    expect(registered).toMatchObject({ liveness: 'table', grantTerm: undefined, heartbeat: 0 });

    const nats = applied(await store.switchWorkerLiveness(namespace, 'worker-a', 'nats', 7));
    expect(nats).toMatchObject({ workerId: 'worker-a', liveness: 'nats', grantTerm: 7, heartbeat: 1, status: 'active', host: 'host-1' });
    expect(await workerRecord(store, namespace, 'worker-a')).toEqual(nats);
    // Already in nats mode: a second switch (say, to a newer term) conflicts and changes nothing.
    expect(await store.switchWorkerLiveness(namespace, 'worker-a', 'nats', 8)).toEqual({ status: 'conflict' });
    expect(await workerRecord(store, namespace, 'worker-a')).toEqual(nats);

    const table = applied(await store.switchWorkerLiveness(namespace, 'worker-a', 'table'));
    expect(table).toMatchObject({ liveness: 'table', grantTerm: undefined, heartbeat: 2, status: 'active', host: 'host-1' });
    expect(await workerRecord(store, namespace, 'worker-a')).toEqual(table);
    expect(await store.switchWorkerLiveness(namespace, 'worker-a', 'table')).toEqual({ status: 'conflict' });

    // Heartbeats in table mode go on from there; the mode survives markWorkerLeaving.
    expect(applied(await store.heartbeatWorker(namespace, 'worker-a')).heartbeat).toBe(3);
    const natsAgain = applied(await store.switchWorkerLiveness(namespace, 'worker-a', 'nats', 9));
    expect(applied(await store.markWorkerLeaving(namespace, 'worker-a'))).toMatchObject({
      status: 'leaving',
      liveness: 'nats',
      grantTerm: 9,
    });
    expect(natsAgain.heartbeat).toBe(4);

    // A switch never recreates a record that is gone.
    await store.deregisterWorker(namespace, 'worker-a');
    expect(await store.switchWorkerLiveness(namespace, 'worker-a', 'table')).toEqual({ status: 'conflict' });
    expect(await store.switchWorkerLiveness(namespace, 'worker-a', 'nats', 9)).toEqual({ status: 'conflict' });
    expect(await workerRecord(store, namespace, 'worker-a')).toBeUndefined();
  });
});

describe('leadership row', () => {
  const namespace = leaseNamespace('billing', 'orders');

  it('claims, renews, takes over and resigns with conditional writes', async () => {
    const { store } = await newStore();
    expect((await store.readNamespace(namespace)).leadership).toBeUndefined();

    // The first claim on an empty row applies.
    const byA = applied(await store.claimLeadership(namespace, 'worker-a', undefined));
    expect(byA).toEqual({ namespace, leaderId: 'worker-a', term: 1, heartbeat: 0 });
    expect(await leadershipRow(store, namespace)).toEqual(byA);

    // A second claimant that also saw the row empty conflicts.
    expect(await store.claimLeadership(namespace, 'worker-b', undefined)).toEqual({ status: 'conflict' });
    expect(await leadershipRow(store, namespace)).toEqual(byA);

    // The leader renews; a claim based on the row before the renewal conflicts.
    const renewed = applied(await store.renewLeadership(byA));
    expect(renewed).toEqual({ ...byA, heartbeat: 1 });
    expect(await store.claimLeadership(namespace, 'worker-b', byA)).toEqual({ status: 'conflict' });
    // So do claims that got the leader or the term wrong.
    expect(await store.claimLeadership(namespace, 'worker-b', { ...renewed, leaderId: 'worker-x' })).toEqual({ status: 'conflict' });
    expect(await store.claimLeadership(namespace, 'worker-b', { ...renewed, term: 2 })).toEqual({ status: 'conflict' });
    expect(await leadershipRow(store, namespace)).toEqual(renewed);

    // The claim with the exact current row (seen unchanged for a leadership duration) applies.
    const current = await leadershipRow(store, namespace);
    const byB = applied(await store.claimLeadership(namespace, 'worker-b', current));
    expect(byB).toEqual({ namespace, leaderId: 'worker-b', term: 2, heartbeat: 0 });
    expect(await leadershipRow(store, namespace)).toEqual(byB);

    // The deposed leader can neither renew nor resign B's term.
    expect(await store.renewLeadership(renewed)).toEqual({ status: 'conflict' });
    expect(await store.renewLeadership(byA)).toEqual({ status: 'conflict' });
    expect(await store.resignLeadership(renewed)).toEqual({ status: 'conflict' });
    expect(await store.resignLeadership({ ...byB, leaderId: 'worker-a' })).toEqual({ status: 'conflict' });
    expect(await store.resignLeadership({ ...byB, term: 1 })).toEqual({ status: 'conflict' });
    expect(await leadershipRow(store, namespace)).toEqual(byB);

    // The current leader renews its own term and resigns it: the row stays, vacant, with its term.
    const byBRenewed = applied(await store.renewLeadership(byB));
    expect(byBRenewed).toEqual({ ...byB, heartbeat: 1 });
    expect(await store.resignLeadership(byB)).toEqual({ status: 'applied', value: undefined });
    const vacant = await leadershipRow(store, namespace);
    expect(vacant).toEqual({ ...byBRenewed, leaderId: undefined });
    expect(await store.resignLeadership(byB)).toEqual({ status: 'conflict' });
    expect(await store.renewLeadership(byB)).toEqual({ status: 'conflict' });
    // A vacant row is claimed by expecting it as read; expecting nothing or the held row conflicts.
    expect(await store.claimLeadership(namespace, 'worker-c', byB)).toEqual({ status: 'conflict' });
    expect(await store.claimLeadership(namespace, 'worker-c', undefined)).toEqual({ status: 'conflict' });
    expect(applied(await store.claimLeadership(namespace, 'worker-c', vacant))).toMatchObject({ leaderId: 'worker-c', term: byB.term + 1 });

    // Rows of other namespaces are untouched.
    expect((await store.readNamespace(leaseNamespace('billing', 'other'))).leadership).toBeUndefined();
  });

  it('lets exactly one of several concurrent claimants win, empty row or expired row', async () => {
    const { tableName } = await newStore();
    const claimants = Array.from({ length: 6 }, (_, i) => ({
      workerId: `claimant-${i}`,
      store: new DynamoDbLeaseStore({ client: newClient(), tableName }),
    }));
    let expected: LeadershipRecord | undefined;
    for (let round = 0; round < 4; round++) {
      const seen = expected;
      const results = await Promise.all(claimants.map(({ store, workerId }) => store.claimLeadership(namespace, workerId, seen)));
      const winners = results.flatMap((result) => (result.status === 'applied' ? [result.value] : []));
      expect(winners, `round ${round}`).toHaveLength(1);
      expect(winners[0]!.term).toBe(round + 1);
      expected = await leadershipRow(claimants[0]!.store, namespace);
      expect(expected).toEqual(winners[0]);
    }
  });

  // Resigning keeps the row's term: a `nats`-mode worker that died under the resigned leader's
  // term must not look as if it lived on a later term than the next leader's.
  it('keeps terms growing across a resignation, so a worker that died under the old term can still be revoked', async () => {
    const { store } = await newStore();
    const byA = applied(await store.claimLeadership(namespace, 'worker-a', undefined));
    const byB = applied(await store.claimLeadership(namespace, 'worker-b', byA));
    expect(byB.term).toBe(2);
    // Worker W lives on B's grants, then crashes; B shuts down gracefully before revoking it.
    applied(await store.registerWorker(namespace, 'worker-w'));
    applied(await store.switchWorkerLiveness(namespace, 'worker-w', 'nats', byB.term));
    applied(await store.resignLeadership(byB));

    const byC = applied(await store.claimLeadership(namespace, 'worker-c', await leadershipRow(store, namespace)));
    let now = 0;
    const grants = new LivenessGrants({ grantValidForMs: 1_500, revokeAfterMs: 2_000, monotonicNow: () => now });
    grants.startTerm(byC);
    now += 60_000; // long after every earlier grant ran out
    const overdue = grants.overdue((await store.readNamespace(namespace)).workers);
    const w = await workerRecord(store, namespace, 'worker-w');
    // Nobody else may remove it: removeDeadWorker refuses nats-mode records.
    expect(await store.removeDeadWorker(namespace, 'worker-w', w!.heartbeat)).toEqual({ status: 'conflict' });

    expect(byC.term, 'the term after a resignation exceeds every earlier term').toBeGreaterThan(byB.term);
    expect(overdue, 'the new leader finds the dead nats-mode worker overdue').toEqual([{ workerId: 'worker-w', grantTerm: byB.term }]);
  });
});
