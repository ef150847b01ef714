import { DynamoDbLeaseStore, leaseNamespace } from '@shoal/coordinator';
import { produceRecords } from '@shoal/local-stack';
import { compareExtendedSequenceNumbers, type ExtendedSequenceNumber } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { expiredIterator, injectFaults, throttled } from './support/fault-injection.js';
import { eventually, recordId, processorWith, useLocalStack } from './support/worker-harness.js';

const local = useLocalStack();

describe('a worker under faults', () => {
  it('survives throttling and expired iterators injected through SDK middleware, nothing lost or repeated', async () => {
    const stream = await local.createTestStream(2);
    const stack = local.stack();
    const kinesis = stream.createKinesisClient();
    const { calls } = injectFaults(kinesis, (command, index) => {
      if (command !== 'GetRecordsCommand') return undefined;
      if (index === 6 || index === 15) return expiredIterator();
      return index % 3 === 1 ? throttled() : undefined;
    });
    const worker = await stream.createWorker({
      kinesis,
      retrieval: {
        maxRecordsPerCall: 100,
        idleTimeBetweenReadsMs: 20,
        retryBaseMs: 10,
        retryMaxMs: 100,
        maxBufferedRecords: 1_000,
        maxBufferedBytes: 1 << 20,
      },
    });
    void worker.run();
    await produceRecords({
      kinesis: stack.kinesis,
      streamName: stream.streamName,
      count: 2_000,
      batchSize: 100,
      pauseMs: 5,
      ledger: stream.ledger,
    });

    expect(await stream.ledger.waitForAllProcessed(30_000)).toBe(true);
    expect(stream.ledger.summary()).toMatchObject({ lost: 0, duplicates: 0, outOfOrder: 0 });
    expect(calls.get('GetRecordsCommand')).toBeGreaterThan(16);
    // Each expired iterator was renewed with one extra GetShardIterator call (2 shards + 2 renewals).
    expect(calls.get('GetShardIteratorCommand')).toBe(4);
  });

  it('retries a throwing processor with backoff; the checkpoint never passes unprocessed records', async () => {
    const stream = await local.createTestStream(1);
    const stack = local.stack();
    await produceRecords({ kinesis: stack.kinesis, streamName: stream.streamName, count: 300, batchSize: 100, ledger: stream.ledger });
    const store = new DynamoDbLeaseStore({ client: stack.dynamodb, tableName: stream.leaseTableName });
    const namespace = leaseNamespace(stream.applicationName, stream.streamName);

    const poison = 'r-150';
    let poisonAttempts = 0;
    const checkpointsWhileFailing: ExtendedSequenceNumber[] = [];
    let poisonPosition: ExtendedSequenceNumber | undefined;
    const statesSeen = new Set<string>();

    const worker = await stream.createWorker({
      processorRetryBaseMs: 50,
      processorRetryMaxMs: 200,
      processorFactory: ({ shardId }) =>
        processorWith(async ({ records, checkpointer }) => {
          for (const record of records) {
            const id = recordId(record);
            if (id === poison && poisonAttempts++ < 3) {
              poisonPosition = record;
              const lease = await store.getLease(namespace, shardId);
              if (lease?.checkpoint.type === 'SEQUENCE') checkpointsWhileFailing.push(lease.checkpoint.position);
              throw new Error(`downstream unavailable while handling ${id}`);
            }
            stream.ledger.recordProcessed(id);
            await checkpointer.checkpoint(record);
          }
        }),
    });
    void worker.run();
    const watchStates = setInterval(() => worker.leases().forEach((lease) => statesSeen.add(lease.state)), 5);
    try {
      expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    } finally {
      clearInterval(watchStates);
    }

    expect(poisonAttempts).toBe(4);
    expect(statesSeen).toContain('owned.backoff');
    expect(checkpointsWhileFailing).toHaveLength(3);
    for (const checkpoint of checkpointsWhileFailing) expect(compareExtendedSequenceNumbers(checkpoint, poisonPosition!)).toBeLessThan(0);
    // Records checkpointed before the failure were not delivered again.
    expect(stream.ledger.summary()).toMatchObject({ lost: 0, duplicates: 0, outOfOrder: 0 });
    await eventually(() => worker.leases()[0]?.state === 'owned.processing', 'the lease is back to processing');
  });

  it('gives a lease back when the processor factory throws, and takes it again', async () => {
    const stream = await local.createTestStream(1);
    const stack = local.stack();
    await produceRecords({ kinesis: stack.kinesis, streamName: stream.streamName, count: 100, ledger: stream.ledger });
    let factoryCalls = 0;
    const worker = await stream.createWorker({
      processorFactory: () => {
        if (++factoryCalls <= 2) throw new Error('configuration not loaded yet');
        return processorWith(async ({ records, checkpointer }) => {
          for (const record of records) stream.ledger.recordProcessed(recordId(record));
          await checkpointer.checkpoint();
        });
      },
    });
    void worker.run();
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    expect(factoryCalls).toBe(3);
    expect(stream.ledger.summary()).toMatchObject({ lost: 0, duplicates: 0 });
  });
});
