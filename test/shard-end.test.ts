import { DynamoDbLeaseStore, leaseNamespace, listShards, splitShard } from '@shoal/coordinator';
import { LocalStack, RecordLedger, parseRecordId, produceRecords, uniqueName, type KinesisEmulatorKind } from '@shoal/local-stack';
import { Worker } from '@shoal/runtime';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient, ResourceNotFoundException } from '@aws-sdk/client-kinesis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FAST_TIMINGS, eventually, silentLogger } from './support/worker-harness.js';

/**
 * Reading a closed shard to its end on both Kinesis emulators: kinesalite ends with a null
 * iterator one call after the last records, kinesis-local also names the ChildShards. Either way
 * `shardEnded` gets a checkpointer, the lease records SHARD_END, and the children follow in order.
 */
describe.each(['kinesalite', 'kinesis-local'] as const)('shard end on %s', (kinesis: KinesisEmulatorKind) => {
  it('calls shardEnded with the children, records SHARD_END, then processes the children in key order', { timeout: 120_000 }, async () => {
    await using stack = await LocalStack.start({ kinesis, shardLimit: 20 });
    const streamName = uniqueName('shard-end');
    const applicationName = uniqueName('app');
    const leaseTableName = uniqueName('leases');
    await stack.createStream(streamName, 1);
    const ledger = new RecordLedger();
    await produceRecords({ kinesis: stack.kinesis, streamName, count: 40, keyCount: 8, ledger });
    const [parent] = await listShards(stack.kinesis, streamName);
    const { childShards } = await splitShard(stack.kinesis, streamName, parent!.shardId, { pollIntervalMs: 200 });
    await produceRecords({ kinesis: stack.kinesis, streamName, count: 40, keyCount: 8, idPrefix: 'after', ledger });

    const ended: { shardId: string; childShardIds: readonly string[] }[] = [];
    await using worker = await Worker.create({
      applicationName,
      streamName,
      leaseTableName,
      initialPosition: 'TRIM_HORIZON',
      kinesis: stack.clientConfig('kinesis'),
      dynamoDb: stack.clientConfig('dynamodb'),
      logger: silentLogger,
      ...FAST_TIMINGS,
      processorFactory: ({ shardId }) => ({
        async processRecords({ records, checkpointer }) {
          for (const record of records) ledger.recordProcessed(parseRecordId(record.data));
          await checkpointer.checkpoint();
        },
        async shardEnded({ checkpointer, childShardIds }) {
          await checkpointer.checkpoint();
          ended.push({ shardId, childShardIds });
        },
        async shutdownRequested({ checkpointer }) {
          await checkpointer.checkpoint();
        },
      }),
    });
    void worker.run();

    expect(await ledger.waitForAllProcessed(90_000)).toBe(true);
    expect(ledger.summary()).toMatchObject({ produced: 80, lost: 0, duplicates: 0, outOfOrder: 0 });
    expect(ended.map((entry) => entry.shardId)).toEqual([parent!.shardId]);
    // kinesalite does not name the children at the end of a shard; kinesis-local does.
    if (kinesis === 'kinesis-local') {
      expect([...ended[0]!.childShardIds].sort()).toEqual(childShards.map((child) => child.shardId).sort());
    }

    const client = new DynamoDBClient(stack.clientConfig('dynamodb'));
    try {
      const store = new DynamoDbLeaseStore({ client, tableName: leaseTableName });
      await eventually(async () => {
        const lease = await store.getLease(leaseNamespace(applicationName, streamName), parent!.shardId);
        return lease?.checkpoint.type === 'SHARD_END';
      }, 'the parent lease records SHARD_END');
    } finally {
      client.destroy();
    }
  });
});

describe('a closed shard that expired out of retention', () => {
  it('is ended with a warning that names its lineage, and its children start', { timeout: 120_000 }, async () => {
    await using stack = await LocalStack.start({ shardLimit: 20 });
    const streamName = uniqueName('expired');
    const applicationName = uniqueName('app');
    const leaseTableName = uniqueName('leases');
    await stack.createStream(streamName, 1);
    // Records of the parent that are never delivered: as if they had aged out of the stream.
    await produceRecords({ kinesis: stack.kinesis, streamName, count: 20, keyCount: 4, idPrefix: 'expired' });
    const [parent] = await listShards(stack.kinesis, streamName);
    const { childShards } = await splitShard(stack.kinesis, streamName, parent!.shardId, { pollIntervalMs: 200 });
    const ledger = new RecordLedger();
    await produceRecords({ kinesis: stack.kinesis, streamName, count: 40, keyCount: 8, idPrefix: 'child', ledger });

    // The stream no longer knows the parent: its iterators fail and ListShards leaves it out.
    const kinesis = new KinesisClient(stack.clientConfig('kinesis'));
    kinesis.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { ShardId?: string; ShardIterator?: string };
        if (context.commandName === 'GetShardIteratorCommand' && input.ShardId === parent!.shardId) {
          throw new ResourceNotFoundException({ message: `Shard ${parent!.shardId} does not exist (injected)`, $metadata: {} });
        }
        const result = await next(args);
        if (context.commandName === 'ListShardsCommand') {
          const output = result.output as { Shards?: { ShardId?: string }[] };
          output.Shards = output.Shards?.filter((shard) => shard.ShardId !== parent!.shardId);
        }
        return result;
      },
      { step: 'initialize', name: 'expiredParent' },
    );
    const warnings: { msg: string; shardId?: string; childShardIds?: string[] }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const ended: string[] = [];
    try {
      // The parent's lease exists first (a shard sync while it was still listed), as on a real stream.
      const store = new DynamoDbLeaseStore({ client: stack.dynamodb, tableName: leaseTableName });
      await store.ensureTable();
      const namespace = leaseNamespace(applicationName, streamName);
      await store.createLease(namespace, { shardId: parent!.shardId, checkpoint: { type: 'TRIM_HORIZON' } });
      for (const child of childShards) {
        await store.createLease(namespace, {
          shardId: child.shardId,
          checkpoint: { type: 'TRIM_HORIZON' },
          parentShardIds: [parent!.shardId],
        });
      }
      await using worker = await Worker.create({
        applicationName,
        streamName,
        leaseTableName,
        initialPosition: 'TRIM_HORIZON',
        kinesis,
        dynamoDb: stack.clientConfig('dynamodb'),
        logger,
        ...FAST_TIMINGS,
        processorFactory: ({ shardId }) => ({
          async processRecords({ records, checkpointer }) {
            for (const record of records) ledger.recordProcessed(parseRecordId(record.data));
            await checkpointer.checkpoint();
          },
          async shardEnded({ checkpointer }) {
            ended.push(shardId);
            await checkpointer.checkpoint();
          },
          async shutdownRequested({ checkpointer }) {
            await checkpointer.checkpoint();
          },
        }),
      });
      void worker.run();

      expect(await ledger.waitForAllProcessed(60_000)).toBe(true);
      expect(ledger.summary()).toMatchObject({ produced: 40, lost: 0, duplicates: 0, outOfOrder: 0 });
      expect(ended).toEqual([parent!.shardId]);
      expect((await store.getLease(namespace, parent!.shardId))?.checkpoint).toEqual({ type: 'SHARD_END' });
      const warning = warnings.find((line) => /expired out of the retention period/.test(line.msg));
      expect(warning).toMatchObject({ shardId: parent!.shardId });
      expect([...(warning?.childShardIds ?? [])].sort()).toEqual(childShards.map((child) => child.shardId).sort());
    } finally {
      kinesis.destroy();
    }
  });
});
