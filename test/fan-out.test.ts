import { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, splitShard } from '@shoal/coordinator';
import { LocalStack, RecordLedger, parseRecordId, produceRecords, uniqueName } from '@shoal/local-stack';
import { Worker, deregisterStreamConsumer, type WorkerOptions } from '@shoal/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamConsumerNames } from './support/stream-consumers.js';
import { FAST_TIMINGS, eventually, processorWith, silentLogger } from './support/worker-harness.js';

/**
 * Enhanced fan-out on kinesis-local, which serves SubscribeToShard over HTTP/1.1 and never ends a
 * closed shard's subscription: the worker registers its consumer, renews subscriptions from their
 * continuation, and finds a split parent's end from the shard list, with nothing lost, repeated
 * or out of order.
 */
describe('enhanced fan-out on kinesis-local', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await LocalStack.start({ kinesis: 'kinesis-local', shardLimit: 40 });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const consumerNames = (streamName: string) => streamConsumerNames(stack.kinesis, streamName);

  /** A worker of a new application on the stream, from its start, with the fast test timings. */
  const fanOutWorker = (streamName: string, options: Pick<WorkerOptions, 'fanOut' | 'processorFactory'> & Partial<WorkerOptions>) =>
    Worker.create({
      applicationName: uniqueName('app'),
      streamName,
      leaseTableName: uniqueName('leases'),
      initialPosition: 'TRIM_HORIZON',
      kinesis: stack.clientConfig('kinesis'),
      dynamoDb: stack.clientConfig('dynamodb'),
      logger: silentLogger,
      ...FAST_TIMINGS,
      ...options,
    });

  it(
    'reads every record once and in key order through renewals and a split, and keeps the consumer registered',
    { timeout: 150_000 },
    async () => {
      const streamName = uniqueName('efo');
      await stack.createStream(streamName, 2);
      const ledger = new RecordLedger();
      await produceRecords({ kinesis: stack.kinesis, streamName, count: 200, keyCount: 16, idPrefix: 'before', ledger });

      // SubscribeToShard through its own client, as on AWS (HTTP/2 there, HTTP/1.1 here), counted.
      const subscribeClient = new KinesisClient(stack.clientConfig('kinesis'));
      let subscriptions = 0;
      subscribeClient.middlewareStack.add(
        (next, context) => (args) => {
          if (context.commandName === 'SubscribeToShardCommand') subscriptions += 1;
          return next(args);
        },
        { step: 'initialize' },
      );
      const ended: { shardId: string; childShardIds: readonly string[] }[] = [];
      await using worker = await fanOutWorker(streamName, {
        shardSyncIntervalMs: 1_000,
        fanOut: { consumerName: 'efo-app', subscribeClient, renewSubscriptionAfterMs: 3_000, shardEndCheckIntervalMs: 1_000 },
        processorFactory: ({ shardId }) => ({
          ...processorWith(async ({ records, checkpointer }) => {
            for (const record of records) ledger.recordProcessed(parseRecordId(record.data));
            await checkpointer.checkpoint();
          }),
          async shardEnded({ checkpointer, childShardIds }) {
            await checkpointer.checkpoint();
            ended.push({ shardId, childShardIds });
          },
        }),
      });
      const running = worker.run();
      try {
        expect(await ledger.waitForAllProcessed(60_000)).toBe(true);
        expect(await consumerNames(streamName)).toEqual(['efo-app:ACTIVE']);

        // Records put while subscriptions are renewed (every 3 s) arrive once each.
        for (let round = 0; round < 4; round += 1) {
          await produceRecords({ kinesis: stack.kinesis, streamName, count: 50, keyCount: 16, idPrefix: `live${round}`, ledger });
          await new Promise((resolve) => setTimeout(resolve, 1_500));
        }
        expect(await ledger.waitForAllProcessed(60_000)).toBe(true);
        expect(subscriptions).toBeGreaterThanOrEqual(4);

        const [parent] = await listShards(stack.kinesis, streamName);
        const { childShards } = await splitShard(stack.kinesis, streamName, parent!.shardId, { pollIntervalMs: 200 });
        await produceRecords({ kinesis: stack.kinesis, streamName, count: 200, keyCount: 16, idPrefix: 'after', ledger });
        expect(await ledger.waitForAllProcessed(90_000)).toBe(true);
        expect(ledger.summary()).toMatchObject({ produced: 600, lost: 0, duplicates: 0, outOfOrder: 0 });
        expect(ended.map((entry) => entry.shardId)).toEqual([parent!.shardId]);
        expect([...ended[0]!.childShardIds].sort()).toEqual(childShards.map((child) => child.shardId).sort());
      } finally {
        await worker.shutdown();
        await running;
        subscribeClient.destroy();
      }
      // Stopping a worker never deregisters the application's consumer.
      expect(await consumerNames(streamName)).toEqual(['efo-app:ACTIVE']);
    },
  );

  it('registers the consumer again when it is deregistered under a running worker', { timeout: 120_000 }, async () => {
    const streamName = uniqueName('efo-dereg');
    await stack.createStream(streamName, 1);
    const ledger = new RecordLedger();
    await using worker = await fanOutWorker(streamName, {
      fanOut: { consumerName: 'efo-again', renewSubscriptionAfterMs: 3_000 },
      processorFactory: () =>
        processorWith(async ({ records, checkpointer }) => {
          for (const record of records) ledger.recordProcessed(parseRecordId(record.data));
          await checkpointer.checkpoint();
        }),
    });
    void worker.run();
    await produceRecords({ kinesis: stack.kinesis, streamName, count: 50, keyCount: 8, idPrefix: 'first', ledger });
    expect(await ledger.waitForAllProcessed(60_000)).toBe(true);

    expect(await deregisterStreamConsumer(stack.kinesis, streamName, 'efo-again')).toBe(true);
    await produceRecords({ kinesis: stack.kinesis, streamName, count: 50, keyCount: 8, idPrefix: 'second', ledger });
    // The next subscription (renewed every 3 s) finds it missing and registers it again.
    await eventually(
      async () => (await consumerNames(streamName)).includes('efo-again:ACTIVE'),
      'the consumer is registered again',
      30_000,
    );
    await produceRecords({ kinesis: stack.kinesis, streamName, count: 50, keyCount: 8, idPrefix: 'third', ledger });
    expect(await ledger.waitForAllProcessed(60_000)).toBe(true);
    expect(ledger.summary()).toMatchObject({ produced: 150, lost: 0, duplicates: 0, outOfOrder: 0 });
  });
});
