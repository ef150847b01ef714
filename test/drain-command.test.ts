import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbLeaseStore, leaseNamespace } from '@shoal/coordinator';
import { produceRecords } from '@shoal/local-stack';
import type { WorkerOptions } from '@shoal/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { shoalInProcess } from './support/run-cli.js';
import { FAST_TIMINGS, eventually, ownedLeaseCount, useLocalStack, type TestStream } from './support/worker-harness.js';

/** `shoal drain` on a running fleet, with and without the coordination bus. */
const local = useLocalStack();
const streams: TestStream[] = [];

afterEach(async () => {
  for (const stream of streams.splice(0)) await stream.close();
});

const shoal = shoalInProcess;

const FLEET_MODES = [
  ['on the coordination bus', { nats: { servers: '127.0.0.1:4222' } }],
  ['through the lease table alone', {}],
] as const satisfies readonly (readonly [string, Partial<WorkerOptions>])[];

/** `shoal drain` of one worker of the test stream's application, from the lease table on the local stack. */
function drainWorker(stream: TestStream, workerId: string, ...args: string[]) {
  return shoal([
    'drain',
    '--application',
    stream.applicationName,
    '--stream',
    stream.streamName,
    '--worker',
    workerId,
    '--lease-table',
    stream.leaseTableName,
    '--dynamodb-endpoint',
    local.stack().dynamodbEndpoint,
    ...args,
  ]);
}

describe('shoal drain', () => {
  for (const [mode, options] of FLEET_MODES) {
    it(`moves every lease off a worker while records flow, and the worker stays up holding nothing (${mode})`, async () => {
      const stream = await local.createTestStream(4);
      streams.push(stream);
      const [kept, drained] = await Promise.all(
        ['drain-kept', 'drain-me'].map((workerId) => stream.createWorker({ workerId, ...options })),
      );
      for (const worker of [kept!, drained!]) void worker.run();
      await eventually(() => ownedLeaseCount(kept!) === 2 && ownedLeaseCount(drained!) === 2, 'the 4 leases are held 2 and 2');
      const producing = produceRecords({
        kinesis: local.stack().kinesis,
        streamName: stream.streamName,
        count: 600,
        batchSize: 50,
        pauseMs: 20,
        keyCount: 32,
        ledger: stream.ledger,
      });
      const drain = await drainWorker(stream, 'drain-me', '--wait-ms', '30000');
      expect(drain.code, drain.stderr).toBe(0);
      expect(drain.stdout).toContain('worker drain-me holds no lease');
      await producing;
      expect(await stream.ledger.waitForAllProcessed(30_000)).toBe(true);
      expect(stream.ledger.summary()).toMatchObject({ lost: 0, outOfOrder: 0 });
      await eventually(() => ownedLeaseCount(kept!) === 4 && ownedLeaseCount(drained!) === 0, 'the other worker holds all 4');
      expect(drained!.state).toBe('running');
    });
  }

  for (const [mode, options] of FLEET_MODES) {
    it(`keeps a drained worker drained when it was judged dead and registers again (${mode})`, async () => {
      const stream = await local.createTestStream(2);
      streams.push(stream);
      const [kept, drained] = await Promise.all(
        ['redrain-kept', 'redrain-me'].map((workerId) => stream.createWorker({ workerId, ...options })),
      );
      for (const worker of [kept!, drained!]) void worker.run();
      await eventually(() => ownedLeaseCount(kept!) === 1 && ownedLeaseCount(drained!) === 1, 'the 2 leases are held 1 and 1');
      const drain = await drainWorker(stream, 'redrain-me');
      expect(drain.code, drain.stderr).toBe(0);

      // As a fleet that judged it dead would: its record goes, and it registers again.
      const client = new DynamoDBClient(local.stack().clientConfig('dynamodb'));
      try {
        const store = new DynamoDbLeaseStore({ client, tableName: stream.leaseTableName });
        const namespace = leaseNamespace(stream.applicationName, stream.streamName);
        if (mode === 'through the lease table alone') {
          // Without a bus the worker learns it was drained from its own heartbeats.
          await new Promise((resolve) => setTimeout(resolve, 2 * FAST_TIMINGS.heartbeatIntervalMs));
        }
        const before = await store.getWorker(namespace, 'redrain-me');
        expect(before?.status).toBe('leaving');
        await store.deregisterWorker(namespace, 'redrain-me');
        await eventually(async () => (await store.getWorker(namespace, 'redrain-me')) !== undefined, 'the worker registers again', 30_000);
        expect((await store.getWorker(namespace, 'redrain-me'))?.status).toBe('leaving');
        await eventually(() => ownedLeaseCount(kept!) === 2, 'the other worker holds both leases');
        expect(ownedLeaseCount(drained!)).toBe(0);
      } finally {
        client.destroy();
      }
    });
  }

  it("keeps a drained member drained when the drain could not reach NATS: the leader's grants tell it", async () => {
    const stream = await local.createTestStream(2);
    streams.push(stream);
    const client = new DynamoDBClient(local.stack().clientConfig('dynamodb'));
    try {
      const store = new DynamoDbLeaseStore({ client, tableName: stream.leaseTableName });
      const namespace = leaseNamespace(stream.applicationName, stream.streamName);
      const kept = await stream.createWorker({ workerId: 'unheard-kept', ...FLEET_MODES[0][1] });
      void kept.run();
      await eventually(async () => (await store.readNamespace(namespace)).leadership?.leaderId === 'unheard-kept', 'unheard-kept leads');
      const drained = await stream.createWorker({ workerId: 'unheard-me', ...FLEET_MODES[0][1] });
      void drained.run();
      await eventually(() => ownedLeaseCount(kept) === 1 && ownedLeaseCount(drained) === 1, 'the 2 leases are held 1 and 1');
      await eventually(async () => (await store.getWorker(namespace, 'unheard-me'))?.liveness === 'nats', 'it lives by grants');

      const drain = await drainWorker(
        stream,
        'unheard-me',
        '--nats',
        'nats://127.0.0.1:1',
        '--connect-timeout-ms',
        '300',
        '--wait-ms',
        '30000',
      );
      expect(drain.code, drain.stderr).toBe(0);
      expect(drain.stdout).toContain('NATS did not answer');
      // The leader saw the record leaving (it moved the lease away): its next grants say so.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await store.deregisterWorker(namespace, 'unheard-me');
      await eventually(async () => (await store.getWorker(namespace, 'unheard-me')) !== undefined, 'the worker registers again', 30_000);
      expect((await store.getWorker(namespace, 'unheard-me'))?.status).toBe('leaving');
      expect(ownedLeaseCount(drained)).toBe(0);
      expect(ownedLeaseCount(kept)).toBe(2);
    } finally {
      client.destroy();
    }
  });

  it('names a worker that is not registered', async () => {
    const stream = await local.createTestStream(1);
    streams.push(stream);
    await stream.createWorker({ workerId: 'present' });
    const result = await shoal([
      'drain',
      '--application',
      stream.applicationName,
      '--worker',
      'absent',
      '--lease-table',
      stream.leaseTableName,
      '--dynamodb-endpoint',
      local.stack().dynamodbEndpoint,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`shoal drain: no worker absent is registered in application ${stream.applicationName}`);
  });
});
