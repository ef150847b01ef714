import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient, PutRecordCommand, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { DynamoDbLeaseStore, leaseNamespace } from '@shoal/coordinator';
import { uniqueName } from '@shoal/local-stack';
import {
  compareSequenceNumbers,
  deaggregateRecords,
  hashKeyForRecord,
  hashKeyInRange,
  parseHashKeyRange,
  type KinesisRecord,
} from '@shoal/processor-sdk';
import { replicatorProcessor } from '@shoal/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { aggregateUserRecords, type UserRecord } from './support/kpl-aggregate.js';
import { readStreamRecords } from './support/stream-records.js';
import { eventually, silentLogger, useLocalStack, type TestStream } from './support/worker-harness.js';

/**
 * The replicator on a source holding KPL aggregates among plain records, on kinesalite: forwarded
 * as read (the default), each target shard ends up holding its source shard's records byte for
 * byte; de-aggregated, each user record is written on its own with its keys. The source's
 * checkpoint never passes an aggregate before the target has it.
 */
const local = useLocalStack();
const clients: KinesisClient[] = [];
const dynamoDbClients: DynamoDBClient[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
  for (const client of dynamoDbClients.splice(0)) client.destroy();
});

function kinesisClient(): KinesisClient {
  const client = new KinesisClient(local.stack().clientConfig('kinesis'));
  clients.push(client);
  return client;
}

/** A hash key in the upper half of the key space: the second of two even shards. */
const UPPER_HALF_KEY = (2n ** 127n + 12_345n).toString();

/** Partition keys of plain records: key-1 and key-3 hash to the lower half of the key space, the others to the upper. */
const PLAIN_KEYS = ['key-0', 'key-1', 'key-2', 'key-3'];

/** Plain records, one PutRecords call, in order. */
async function putPlain(streamName: string, prefix: string, count: number): Promise<void> {
  const Records = Array.from({ length: count }, (_, i) => ({
    PartitionKey: PLAIN_KEYS[i % PLAIN_KEYS.length],
    Data: Buffer.from(`${prefix}-${i}`),
  }));
  await local.stack().kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records }));
}

/**
 * One KPL aggregate of `users`, put as a producer puts it; resolves its bytes and sequence number.
 * `beforePut` sees the bytes before Kinesis does (a reader may copy the record at once).
 */
async function putAggregate(
  streamName: string,
  users: UserRecord[],
  beforePut: (data: Buffer) => void = () => undefined,
): Promise<{ data: Buffer; sequenceNumber: string }> {
  const [encoded, ...more] = await aggregateUserRecords(users);
  expect(more).toEqual([]);
  beforePut(encoded!.data);
  const { SequenceNumber } = await local.stack().kinesis.send(
    new PutRecordCommand({
      StreamName: streamName,
      PartitionKey: encoded!.partitionKey,
      Data: encoded!.data,
      ...(encoded!.explicitHashKey === undefined ? {} : { ExplicitHashKey: encoded!.explicitHashKey }),
    }),
  );
  return { data: encoded!.data, sequenceNumber: SequenceNumber! };
}

/** The stored checkpoint of each of the application's leases (undefined before the first). */
async function checkpoints(stream: TestStream, applicationName: string): Promise<Map<string, string | undefined>> {
  const client = new DynamoDBClient(local.stack().clientConfig('dynamodb'));
  dynamoDbClients.push(client);
  const { leases } = await new DynamoDbLeaseStore({ client, tableName: stream.leaseTableName }).readNamespace(
    leaseNamespace(applicationName, stream.streamName),
  );
  return new Map(
    leases.map((lease) => [lease.shardId, lease.checkpoint.type === 'SEQUENCE' ? lease.checkpoint.position.sequenceNumber : undefined]),
  );
}

/** (partition key, data) of records, for comparing what two streams hold. */
const stored = (records: readonly { PartitionKey?: string; Data?: Uint8Array }[]) =>
  records.map((record) => [record.PartitionKey, Buffer.from(record.Data!).toString('base64')]);

describe('replicator with KPL aggregates', () => {
  it('forwards aggregates as read by default, or de-aggregates them; the checkpoint passes an aggregate only once it is written', async () => {
    const source = await local.createTestStream(2);
    const [forwardTarget, deaggregateTarget] = [uniqueName('forwarded'), uniqueName('deaggregated')];
    // The same two even shards as the source: a forwarded record lands in the shard of the same number.
    await Promise.all([local.stack().createStream(forwardTarget, 2), local.stack().createStream(deaggregateTarget, 2)]);

    // The forwarding target holds back any call that carries the first aggregate until released.
    let firstAggregate: Buffer | undefined;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let heldCalls = 0;
    const forwardClient = kinesisClient();
    forwardClient.middlewareStack.add(
      (next, context) => async (args) => {
        const entries = context.commandName === 'PutRecordsCommand' ? ((args.input as PutRecordsCommandInput).Records ?? []) : [];
        if (firstAggregate && entries.some((entry) => Buffer.from(entry.Data!).equals(firstAggregate!))) {
          heldCalls += 1;
          await released;
        }
        return next(args);
      },
      { step: 'initialize', name: 'holdFirstAggregate' },
    );
    const forwarding = await source.createWorker({
      workerId: 'forwarding',
      processorFactory: replicatorProcessor({
        targets: [{ streamName: forwardTarget }],
        kinesis: forwardClient,
        requestTimeoutMs: 30_000,
        logger: silentLogger,
      }),
    });
    const deaggregatingApplication = `${source.applicationName}-deaggregating`;
    const deaggregating = await source.createWorker({
      applicationName: deaggregatingApplication,
      workerId: 'deaggregating',
      processorFactory: replicatorProcessor({
        targets: [{ streamName: deaggregateTarget }],
        kinesis: kinesisClient(),
        kpl: 'deaggregate',
        logger: silentLogger,
      }),
    });
    void forwarding.run();
    void deaggregating.run();

    await putPlain(source.streamName, 'before', 12);
    await eventually(async () => {
      const stored = [...(await checkpoints(source, source.applicationName)).values()];
      return stored.length === 2 && stored.every((checkpoint) => checkpoint !== undefined);
    }, 'the plain records before the aggregates are copied and checkpointed');
    // One aggregate routed by its partition key, one by the explicit hash key of its first user record.
    const aggregates = [
      // Held from before it is put: the replicator may copy it as soon as it is in the stream.
      await putAggregate(
        source.streamName,
        [
          { partitionKey: 'user-a', data: Buffer.from('a0') },
          { partitionKey: 'user-b', data: Buffer.from('b0') },
          { partitionKey: 'user-a', data: Buffer.from('a1') },
          { partitionKey: 'user-c', data: Buffer.from([0, 255, 7]) },
        ],
        (data) => (firstAggregate = data),
      ),
      await putAggregate(source.streamName, [
        { partitionKey: 'user-d', data: Buffer.from('d0'), explicitHashKey: UPPER_HALF_KEY },
        { partitionKey: 'user-e', data: Buffer.from('e0'), explicitHashKey: UPPER_HALF_KEY },
        { partitionKey: 'user-d', data: Buffer.from('d1'), explicitHashKey: UPPER_HALF_KEY },
      ]),
    ];
    await putPlain(source.streamName, 'after', 12);

    const sourceShards = await readStreamRecords(local.stack().kinesis, source.streamName);
    const sourceUserRecords = sourceShards.flatMap(({ records }) => deaggregateRecords(records));
    expect(sourceUserRecords).toHaveLength(24 + 7);

    // De-aggregated: every user record on its own, with its keys, in the shard of its hash key, in per-key order.
    await eventually(
      async () => (await readStreamRecords(local.stack().kinesis, deaggregateTarget)).flatMap(({ records }) => records).length === 31,
      'the de-aggregating replicator wrote every user record',
    );
    const deaggregatedShards = await readStreamRecords(local.stack().kinesis, deaggregateTarget);
    const byKey = (records: readonly KinesisRecord[]) => {
      const keys = new Map<string, string[]>();
      for (const record of records)
        keys.set(record.partitionKey, [...(keys.get(record.partitionKey) ?? []), Buffer.from(record.data).toString('base64')]);
      return keys;
    };
    const written = deaggregatedShards.flatMap(({ records }) => deaggregateRecords(records));
    expect(written.every((record) => !record.aggregated)).toBe(true);
    expect(byKey(written)).toEqual(byKey(sourceUserRecords));
    for (const { shard, records } of deaggregatedShards) {
      const range = parseHashKeyRange({
        StartingHashKey: shard.hashKeyRange.startingHashKey,
        EndingHashKey: shard.hashKeyRange.endingHashKey,
      });
      for (const record of records) {
        const user = sourceUserRecords.find((candidate) => Buffer.from(candidate.data).equals(Buffer.from(record.Data!)))!;
        expect(hashKeyInRange(hashKeyForRecord(user), range), `${user.partitionKey} in ${shard.shardId}`).toBe(true);
      }
    }

    // Forwarding, held on the first aggregate: its shard's checkpoint stays before it.
    await eventually(() => heldCalls > 0, 'the forwarding replicator tried to write the first aggregate');
    const aggregateShard = sourceShards.find(({ records }) =>
      records.some((record) => record.SequenceNumber === aggregates[0]!.sequenceNumber),
    )!;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const heldAt = (await checkpoints(source, source.applicationName)).get(aggregateShard.shard.shardId);
    expect(heldAt).toBeDefined();
    expect(compareSequenceNumbers(heldAt!, aggregates[0]!.sequenceNumber)).toBeLessThan(0);
    release();
    await eventually(async () => {
      const at = (await checkpoints(source, source.applicationName)).get(aggregateShard.shard.shardId);
      return at !== undefined && compareSequenceNumbers(at, aggregates[0]!.sequenceNumber) >= 0;
    }, 'the checkpoint passes the aggregate once it is written');

    // Forwarded: each target shard holds what its source shard holds, the aggregates as single records, byte for byte.
    await eventually(
      async () => (await readStreamRecords(local.stack().kinesis, forwardTarget)).flatMap(({ records }) => records).length === 26,
      'the forwarding replicator wrote 24 plain records and 2 aggregates',
    );
    const forwardedShards = await readStreamRecords(local.stack().kinesis, forwardTarget);
    for (const [index, { records }] of forwardedShards.entries()) {
      expect(stored(records), `shard ${index}`).toEqual(stored(sourceShards[index]!.records));
    }
    for (const aggregate of aggregates) {
      expect(
        forwardedShards.flatMap(({ records }) => records).filter((record) => Buffer.from(record.Data!).equals(aggregate.data)),
      ).toHaveLength(1);
    }
    // The aggregate put by the explicit hash key is in the upper shard, though its partition key hashes to the lower.
    expect(stored(forwardedShards[1]!.records)).toContainEqual(['user-d', aggregates[1]!.data.toString('base64')]);
  });
});
