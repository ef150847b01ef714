import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { LeaseTableSchemaError } from '@shoal/coordinator';
import { LocalStack, uniqueName } from '@shoal/local-stack';
import { InvalidOptionsError, Worker, type WorkerOptions } from '@shoal/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerProcessor, silentLogger } from './support/worker-harness.js';
import { RecordLedger } from '@shoal/local-stack';

let stack: LocalStack;

beforeAll(async () => {
  stack = await LocalStack.start();
});
afterAll(async () => {
  await stack.stop();
});

describe('worker start-up', () => {
  const valid = (): WorkerOptions => ({
    applicationName: 'orders-app',
    streamName: 'orders',
    processorFactory: ledgerProcessor(new RecordLedger()),
    kinesis: stack.clientConfig('kinesis'),
    dynamoDb: stack.clientConfig('dynamodb'),
    leaseTableName: uniqueName('leases'),
    logger: silentLogger,
  });

  it.each([
    ['applicationName', { applicationName: '' }],
    ['streamName', { streamName: 'bad name!' }],
    ['processorFactory', { processorFactory: 'not a function' }],
    ['leaseDurationMs', { leaseDurationMs: -5 }],
    ['heartbeatIntervalMs', { heartbeatIntervalMs: 10_000, leaseDurationMs: 15_000 }],
    ['retrieval.maxRecordsPerCall', { retrieval: { maxRecordsPerCall: 20_000 } }],
    ['initialPosition', { initialPosition: 'YESTERDAY' }],
    ['leaseSyncIntervall', { leaseSyncIntervall: 100 }],
  ])('rejects a bad %s before touching any server', async (field, patch) => {
    const attempt = Worker.create({ ...valid(), ...(patch as Partial<WorkerOptions>) });
    await expect(attempt).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(attempt).rejects.toThrow(field.split('.').pop()!);
  });

  it('fails with a clear message when the lease table has another key schema', async () => {
    const tableName = uniqueName('not-leases');
    await stack.dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
      }),
    );
    const attempt = Worker.create({ ...valid(), leaseTableName: tableName });
    await expect(attempt).rejects.toBeInstanceOf(LeaseTableSchemaError);
    await expect(attempt).rejects.toThrow(/leaseKey \(HASH/);
  });

  it('fails run() when the stream does not exist, and stops cleanly', async () => {
    const worker = await Worker.create({ ...valid(), streamName: uniqueName('missing') });
    await expect(worker.run()).rejects.toThrow(/ResourceNotFound|not found/i);
    expect(worker.state).toBe('failed');
    await worker.close();
  });

  it('stops cleanly when shutdown() comes while it is still starting', async () => {
    const streamName = uniqueName('starting');
    await stack.createStream(streamName, 2);
    const worker = await Worker.create({ ...valid(), streamName });
    const running = worker.run();
    await worker.shutdown();
    await running;
    expect(worker.state).toBe('stopped');
    expect(worker.leases()).toEqual([]);
    await worker.close();
  });
});
