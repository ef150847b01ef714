import { KinesisClient, PutRecordCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { listShards, mergeShards, splitShard, type ShardInfo } from '@shoal/coordinator';
import { LocalStack, RecordLedger, parseRecordId, produceRecords, uniqueName } from '@shoal/local-stack';
import {
  hashKeyForPartitionKey,
  hashKeyInRange,
  parseHashKeyRange,
  type KinesisRecord,
  type ShardRecordProcessorFactory,
} from '@shoal/processor-sdk';
import { Worker, type WorkerOptions } from '@shoal/runtime';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { aggregateUserRecords } from './support/kpl-aggregate.js';
import { FAST_TIMINGS, eventually, ownedLeaseCount, processorWith, silentLogger } from './support/worker-harness.js';

/**
 * Enhanced fan-out on kinesis-local, which never ends a closed shard's subscription: a worker
 * resumes a checkpoint inside a KPL aggregate, ends split and merged parents (busy or never
 * written to) from the shard list, and reads children only after their parents, nothing lost,
 * repeated or out of order.
 */
describe.concurrent('enhanced fan-out through restarts and resharding', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await LocalStack.start({ kinesis: 'kinesis-local', shardLimit: 40 });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  });

  /** A client for SubscribeToShard alone that counts the subscriptions the server accepted; destroyed on disposal. */
  function countingSubscribeClient(): { client: KinesisClient; accepted: () => number } & Disposable {
    const client = new KinesisClient(stack.clientConfig('kinesis'));
    let accepted = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'SubscribeToShardCommand') accepted += 1;
        return result;
      },
      { step: 'initialize' },
    );
    return { client, accepted: () => accepted, [Symbol.dispose]: () => client.destroy() };
  }

  /** A worker of `applicationName` reading `streamName` from its start by enhanced fan-out. */
  function fanOutWorker(
    streamName: string,
    options: Pick<WorkerOptions, 'applicationName' | 'leaseTableName' | 'processorFactory'> & Partial<WorkerOptions>,
    subscribeClient?: KinesisClient,
  ): Promise<Worker> {
    return Worker.create({
      streamName,
      initialPosition: 'TRIM_HORIZON',
      kinesis: stack.clientConfig('kinesis'),
      dynamoDb: stack.clientConfig('dynamodb'),
      logger: silentLogger,
      ...FAST_TIMINGS,
      shardSyncIntervalMs: 1_000,
      fanOut: {
        consumerName: options.applicationName,
        renewSubscriptionAfterMs: 1_000,
        shardEndCheckIntervalMs: 1_000,
        ...(subscribeClient ? { subscribeClient } : {}),
      },
      ...options,
    });
  }

  /** A new application's names. */
  const newApplication = () => ({ applicationName: uniqueName('app'), leaseTableName: uniqueName('leases') });

  /** Records every record in `ledger`, checkpoints after each batch, and notes which shards ended. */
  function ledgerProcessor(ledger: RecordLedger, ended: string[]): ShardRecordProcessorFactory {
    return ({ shardId }) => ({
      ...processorWith(async ({ records, checkpointer }) => {
        for (const record of records) ledger.recordProcessed(parseRecordId(record.data));
        await checkpointer.checkpoint();
      }),
      async shardEnded({ checkpointer }) {
        await checkpointer.checkpoint();
        ended.push(shardId);
      },
    });
  }

  /** Puts `count` records, in the format `produceRecords` writes, with partition keys that all hash into `shard`. */
  async function putIntoShard(streamName: string, shard: ShardInfo, count: number, idPrefix: string, ledger: RecordLedger): Promise<void> {
    const range = parseHashKeyRange({
      StartingHashKey: shard.hashKeyRange.startingHashKey,
      EndingHashKey: shard.hashKeyRange.endingHashKey,
    });
    const keys = Array.from({ length: 64 }, (_, index) => `key-${index}`)
      .filter((key) => hashKeyInRange(hashKeyForPartitionKey(key), range))
      .slice(0, 4);
    if (keys.length < 4) throw new Error(`only ${keys.length} of 64 partition keys hash into ${shard.shardId}`);
    const entries = Array.from({ length: count }, (_, index) => ({ id: `${idPrefix}-${index}`, key: keys[index % keys.length]! }));
    const { FailedRecordCount } = await stack.kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: entries.map(({ id, key }) => ({ PartitionKey: key, Data: Buffer.from(JSON.stringify({ id, key })) })),
      }),
    );
    if (FailedRecordCount) throw new Error(`PutRecords failed ${FailedRecordCount} records`);
    for (const { id, key } of entries) ledger.recordProduced(id, key);
  }

  it('resumes a checkpoint inside a KPL aggregate at the next user record, and renewals repeat nothing', async ({ expect }) => {
    const streamName = uniqueName('fan-out-kpl');
    await stack.createStream(streamName, 1);
    for (let aggregate = 0; aggregate < 3; aggregate += 1) {
      const users = Array.from({ length: 10 }, (_, index) => ({
        partitionKey: `user-${aggregate}-${index}`,
        data: Buffer.from(`a${aggregate}-u${index}`),
      }));
      const [encoded] = await aggregateUserRecords(users);
      await stack.kinesis.send(new PutRecordCommand({ StreamName: streamName, PartitionKey: encoded!.partitionKey, Data: encoded!.data }));
    }
    const text = (record: KinesisRecord) => Buffer.from(record.data).toString();
    const application = newApplication();

    // The first worker checkpoints the fourth user record of the second aggregate, and no further.
    const firstSeen: string[] = [];
    let checkpointed = false;
    await using first = await fanOutWorker(streamName, {
      ...application,
      workerId: 'first',
      processorFactory: () =>
        processorWith(
          async ({ records, checkpointer }) => {
            for (const record of records) {
              firstSeen.push(text(record));
              if (text(record) === 'a1-u3') {
                await checkpointer.checkpoint(record);
                checkpointed = true;
              }
            }
          },
          { checkpointOnShutdown: false },
        ),
    });
    const firstRun = first.run();
    await eventually(() => checkpointed && firstSeen.length === 30, 'the first worker saw every user record', 60_000);
    await first.shutdown();
    await firstRun;
    await first.close();

    const secondSeen: string[] = [];
    using subscriptions = countingSubscribeClient();
    await using second = await fanOutWorker(
      streamName,
      {
        ...application,
        workerId: 'second',
        processorFactory: () =>
          processorWith(async ({ records, checkpointer }) => {
            secondSeen.push(...records.map(text));
            await checkpointer.checkpoint();
          }),
      },
      subscriptions.client,
    );
    const secondRun = second.run();
    await eventually(() => secondSeen.length >= 16, 'the second worker resumed', 60_000);
    // The subscription is renewed from its continuation (every 1 s, as often as kinesis-local accepts).
    await eventually(() => subscriptions.accepted() >= 2, 'the subscription was renewed', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await second.shutdown();
    await secondRun;
    expect(secondSeen).toEqual([
      ...Array.from({ length: 6 }, (_, i) => `a1-u${i + 4}`),
      ...Array.from({ length: 10 }, (_, i) => `a2-u${i}`),
    ]);
  });

  it('ends a split parent that never held a record, so its children are read', async ({ expect }) => {
    const streamName = uniqueName('fan-out-empty-split');
    await stack.createStream(streamName, 1);
    const ledger = new RecordLedger();
    const ended: string[] = [];
    using subscriptions = countingSubscribeClient();
    await using worker = await fanOutWorker(
      streamName,
      { ...newApplication(), processorFactory: ledgerProcessor(ledger, ended) },
      subscriptions.client,
    );
    const running = worker.run();
    // The parent's subscription is open (and idle) when the split closes the shard.
    await eventually(
      () => ownedLeaseCount(worker) === 1 && subscriptions.accepted() > 0,
      'the worker subscribed to the only shard',
      30_000,
    );
    const [parent] = await listShards(stack.kinesis, streamName);
    await splitShard(stack.kinesis, streamName, parent!.shardId, { pollIntervalMs: 200 });
    await produceRecords({ kinesis: stack.kinesis, streamName, count: 100, keyCount: 16, idPrefix: 'after', ledger });
    expect(await ledger.waitForAllProcessed(60_000)).toBe(true);
    expect(ledger.summary()).toMatchObject({ lost: 0, duplicates: 0, outOfOrder: 0 });
    expect(ended).toEqual([parent!.shardId]);
    await worker.shutdown();
    await running;
  });

  it('reads through a merge of a busy and an empty parent: both parents to their end before the child, in key order', async ({
    expect,
  }) => {
    const streamName = uniqueName('fan-out-merge');
    await stack.createStream(streamName, 2);
    const ledger = new RecordLedger();
    const ended: string[] = [];
    const [busy, empty] = await listShards(stack.kinesis, streamName);
    await putIntoShard(streamName, busy!, 60, 'before', ledger);
    await using worker = await fanOutWorker(streamName, { ...newApplication(), processorFactory: ledgerProcessor(ledger, ended) });
    const running = worker.run();
    expect(await ledger.waitForAllProcessed(60_000)).toBe(true);
    await mergeShards(stack.kinesis, streamName, busy!.shardId, empty!.shardId, { pollIntervalMs: 200 });
    await produceRecords({ kinesis: stack.kinesis, streamName, count: 60, keyCount: 8, idPrefix: 'after', ledger });
    expect(await ledger.waitForAllProcessed(60_000)).toBe(true);
    expect(ledger.summary()).toMatchObject({ lost: 0, duplicates: 0, outOfOrder: 0 });
    expect([...ended].sort()).toEqual([busy!.shardId, empty!.shardId].sort());
    await worker.shutdown();
    await running;
  });
});
