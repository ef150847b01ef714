import { DynamoDbLeaseStore, leaseNamespace, listShards, splitShard } from '@shoal/coordinator';
import { LocalStack, RecordLedger, parseRecordId, produceRecords, uniqueName, type KinesisEmulatorKind } from '@shoal/local-stack';
import { Worker } from '@shoal/runtime';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
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
