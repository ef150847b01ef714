import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbLeaseStore, PARTITION_KEY, SORT_KEY, leaseNamespace } from '@shoal/coordinator';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { eventually, ownedLeaseCount, useLocalStack, type TestStream } from './support/worker-harness.js';

/**
 * In-process workers against partial failures of their peers and of the lease table's contents:
 * a requester that died, a row someone wrote by hand.
 */
const local = useLocalStack();

function storeFor(stream: TestStream): { store: DynamoDbLeaseStore; namespace: string; close(): void } {
  const client = new DynamoDBClient(local.stack().clientConfig('dynamodb'));
  const store = new DynamoDbLeaseStore({ client, tableName: stream.leaseTableName });
  return { store, namespace: leaseNamespace(stream.applicationName, stream.streamName), close: () => client.destroy() };
}

describe('a worker shutting down', () => {
  it('does not hand a lease to a requester that is not a live worker: it releases it for anyone', async () => {
    const stream = await local.createTestStream(2);
    const { store, namespace, close } = storeFor(stream);
    try {
      const worker = await stream.createWorker();
      void worker.run();
      await eventually(() => ownedLeaseCount(worker) === 2, 'the worker owns both leases');
      const [lease] = (await store.readNamespace(namespace)).leases;
      // A handoff request by a worker that never registered (or died since).
      expect((await store.requestHandoff(lease!, 'ghost-worker')).status).toBe('applied');

      await worker.shutdown();
      const after = await store.getLease(namespace, lease!.leaseKey);
      expect(after?.leaseOwner).toBeUndefined();
      expect(after?.pendingOwner).toBeUndefined();

      // So the next worker takes it at once instead of after a lease duration.
      const next = await stream.createWorker();
      void next.run();
      await eventually(() => ownedLeaseCount(next) === 2, 'the next worker owns both leases', 2_000);
    } finally {
      close();
    }
  });
});

describe('a malformed lease row', () => {
  it('is logged once, naming the row and the field, and the other leases go on', async () => {
    const stream = await local.createTestStream(2);
    const { store, namespace, close } = storeFor(stream);
    const client = new DynamoDBClient(local.stack().clientConfig('dynamodb'));
    try {
      const first = await stream.createWorker();
      void first.run();
      await eventually(() => ownedLeaseCount(first) === 2, 'the first worker created and owns both leases');
      await first.shutdown();
      const [broken, sound] = (await store.readNamespace(namespace)).leases;
      // Someone edits a row by hand and leaves a string where the epoch was.
      await client.send(
        new UpdateItemCommand({
          TableName: stream.leaseTableName,
          Key: { [PARTITION_KEY]: { S: namespace }, [SORT_KEY]: { S: `lease#${broken!.leaseKey}` } },
          UpdateExpression: 'SET leaseCounter = :text',
          ExpressionAttributeValues: { ':text': { S: 'three' } },
        }),
      );

      const errors: { msg: string; itemKey?: string; problem?: string }[] = [];
      const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(JSON.parse(line)) });
      const worker = await stream.createWorker({ logger });
      void worker.run();
      await eventually(() => ownedLeaseCount(worker) === 1, 'the worker owns the sound lease');
      // Several lease syncs later (200 ms each), still one line.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(worker.leases().map((lease) => lease.leaseKey)).toEqual([sound!.leaseKey]);
      const reports = errors.filter((line) => /malformed/.test(line.msg));
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ itemKey: `lease#${broken!.leaseKey}` });
      expect(reports[0]!.problem).toMatch(/^leaseCounter: expected a whole number, got "three"/);
    } finally {
      client.destroy();
      close();
    }
  });
});
