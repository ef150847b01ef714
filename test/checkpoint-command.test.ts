import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import { DynamoDbLeaseStore, leaseNamespace, type Lease } from '@shoal/coordinator';
import { parseRecordId, produceRecords } from '@shoal/local-stack';
import type { WorkerOptions } from '@shoal/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { shoalInProcess as shoal } from './support/run-cli.js';
import { eventually, ownedLeaseCount, useLocalStack, type TestStream } from './support/worker-harness.js';

/** `shoal checkpoint set` against a running fleet and on its own: fenced, told, and refusing what would lose or reorder records. */
const local = useLocalStack();
const clients: DynamoDBClient[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

const SHARD_0 = 'shardId-000000000000';
const SHARD_1 = 'shardId-000000000001';

function leaseStoreOf(stream: TestStream): DynamoDbLeaseStore {
  const client = new DynamoDBClient(local.stack().clientConfig('dynamodb'));
  clients.push(client);
  return new DynamoDbLeaseStore({ client, tableName: stream.leaseTableName });
}

async function leaseOf(stream: TestStream, shardId: string): Promise<Lease> {
  const lease = await leaseStoreOf(stream).getLease(leaseNamespace(stream.applicationName, stream.streamName), shardId);
  if (lease === undefined) throw new Error(`no lease for ${shardId}`);
  return lease;
}

function checkpointSet(stream: TestStream, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return shoal([
    'checkpoint',
    'set',
    '--application',
    stream.applicationName,
    '--stream',
    stream.streamName,
    '--lease-table',
    stream.leaseTableName,
    '--dynamodb-endpoint',
    local.stack().dynamodbEndpoint,
    '--kinesis-endpoint',
    local.stack().kinesisEndpoint,
    '--connect-timeout-ms',
    '2000',
    ...args,
  ]);
}

/** The records of a shard in order, with their ids and sequence numbers. */
async function shardRecords(stream: TestStream, shardId: string): Promise<{ id: string; sequenceNumber: string }[]> {
  const kinesis = stream.createKinesisClient();
  const { ShardIterator } = await kinesis.send(
    new GetShardIteratorCommand({ StreamName: stream.streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
  );
  const { Records = [] } = await kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 10_000 }));
  return Records.map((record) => ({ id: parseRecordId(record.Data!), sequenceNumber: record.SequenceNumber! }));
}

async function produce(stream: TestStream, count: number, pauseMs = 0, idPrefix = 'r'): Promise<void> {
  await produceRecords({
    idPrefix,
    kinesis: local.stack().kinesis,
    streamName: stream.streamName,
    count,
    batchSize: 20,
    pauseMs,
    keyCount: 8,
    ledger: stream.ledger,
  });
}

describe('shoal checkpoint set', () => {
  for (const [mode, options] of [
    ['told over NATS', { nats: { servers: '127.0.0.1:4222' } }],
    ['finding out from the lease table', {}],
  ] as const satisfies readonly (readonly [string, Partial<WorkerOptions>])[]) {
    it(`moves a running owner's checkpoint back to TRIM_HORIZON while records flow: the owner is fenced out and every record is read again (${mode})`, async () => {
      const stream = await local.createTestStream(1);
      const worker = await stream.createWorker({ workerId: 'reset-owner', ...options });
      void worker.run();
      await produce(stream, 100);
      expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
      await eventually(async () => (await leaseOf(stream, SHARD_0)).checkpoint.type === 'SEQUENCE', 'the owner checkpointed');
      const before = await leaseOf(stream, SHARD_0);
      const firstBatch = stream.ledger.producedIds();

      const producing = produce(stream, 100, 20, 'during-reset');
      const result = await checkpointSet(stream, '--shard', SHARD_0, '--to', 'trim_horizon');
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`${SHARD_0}: `);
      expect(result.stdout).toContain(`→ TRIM_HORIZON (taken from reset-owner; lease epoch now ${before.leaseCounter + 1})`);
      await producing;

      // Had the fenced owner written its position over the reset, the first batch would not be read again.
      await eventually(
        () => firstBatch.every((id) => stream.ledger.timesProcessed(id) === 2),
        'every record of the first batch is processed twice',
      );
      expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
      await eventually(() => ownedLeaseCount(worker) === 1, 'the lease is owned again');
      const after = await leaseOf(stream, SHARD_0);
      expect(after.leaseOwner).toBe('reset-owner');
      expect(after.leaseCounter).toBeGreaterThanOrEqual(before.leaseCounter + 2);
    });
  }

  it('tells an idle owner over NATS, which stops at once rather than at its next lease check', async () => {
    const stream = await local.createTestStream(1);
    // Members check their own leases and the leader reads the table only every minute here: only the
    // prompt can stop the owner, and have the lease planned again, within the test.
    const coordination = { ownLeaseCheckIntervalMs: 60_000, leaderFullSyncIntervalMs: 60_000 };
    const [first, second] = await Promise.all(
      ['idle-a', 'idle-b'].map((workerId) => stream.createWorker({ workerId, nats: { servers: '127.0.0.1:4222' }, coordination })),
    );
    for (const worker of [first!, second!]) void worker.run();
    await produce(stream, 30);
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    await eventually(async () => (await leaseOf(stream, SHARD_0)).checkpoint.type === 'SEQUENCE', 'the owner checkpointed');
    const before = await leaseOf(stream, SHARD_0);
    const owner = [first!, second!].find((worker) => worker.workerId === before.leaseOwner)!;

    const result = await checkpointSet(stream, '--shard', SHARD_0, '--to', 'TRIM_HORIZON');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('NATS did not answer');
    await eventually(
      () => stream.ledger.producedIds().every((id) => stream.ledger.timesProcessed(id) === 2),
      'every record is processed again',
    );
    // Whoever read them again, the previous owner runs the lease only if the table gave it back to it.
    await eventually(async () => {
      const now = await leaseOf(stream, SHARD_0);
      const holders = [first!, second!].filter((worker) => ownedLeaseCount(worker) === 1).map((worker) => worker.workerId);
      return now.leaseCounter > before.leaseCounter + 1 && holders.length === 1 && holders[0] === now.leaseOwner;
    }, `the previous owner ${owner.workerId} let the lease go`);
  });

  it('when a later shard fails, lists the shards moved before it and tells their owners all the same', async () => {
    const stream = await local.createTestStream(1);
    const coordination = { ownLeaseCheckIntervalMs: 60_000, leaderFullSyncIntervalMs: 60_000 };
    const workers = await Promise.all(
      ['part-a', 'part-b'].map((workerId) => stream.createWorker({ workerId, nats: { servers: '127.0.0.1:4222' }, coordination })),
    );
    for (const worker of workers) void worker.run();
    await produce(stream, 30);
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    await eventually(async () => (await leaseOf(stream, SHARD_0)).checkpoint.type === 'SEQUENCE', 'the owner checkpointed');
    const before = await leaseOf(stream, SHARD_0);

    const missing = 'shardId-000000000009';
    const result = await checkpointSet(stream, '--shard', SHARD_0, '--shard', missing, '--to', 'TRIM_HORIZON', '--json');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no lease for shard ${missing}`);
    expect(JSON.parse(result.stdout)).toMatchObject({
      moves: [{ shardId: SHARD_0, to: 'TRIM_HORIZON', previousOwner: before.leaseOwner, leaseCounter: before.leaseCounter + 1 }],
      ownersTold: true,
      error: `no lease for shard ${missing} in ${leaseNamespace(stream.applicationName, stream.streamName)}`,
    });
    await eventually(
      () => stream.ledger.producedIds().every((id) => stream.ledger.timesProcessed(id) === 2),
      'the moved shard is read again',
    );
  });

  it('moves a checkpoint to a sequence number: processing resumes right after that record', async () => {
    const stream = await local.createTestStream(1);
    const worker = await stream.createWorker({ workerId: 'seq-owner', nats: { servers: '127.0.0.1:4222' } });
    void worker.run();
    await produce(stream, 40);
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    const records = await shardRecords(stream, SHARD_0);
    expect(records).toHaveLength(40);

    const result = await checkpointSet(stream, '--shard', SHARD_0, '--to', records[19]!.sequenceNumber, '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      moves: [{ shardId: SHARD_0, to: records[19]!.sequenceNumber, previousOwner: 'seq-owner' }],
      ownersTold: true,
    });

    const replayed = records.slice(20).map((record) => record.id);
    await eventually(() => replayed.every((id) => stream.ledger.timesProcessed(id) === 2), 'the records after it are processed again');
    for (const { id } of records.slice(0, 20)) expect(stream.ledger.timesProcessed(id)).toBe(1);
  });

  it('moves every unfinished shard to a timestamp or to LATEST, whoever owns them', async () => {
    const stream = await local.createTestStream(2);
    const store = leaseStoreOf(stream);
    const namespace = leaseNamespace(stream.applicationName, stream.streamName);
    await store.ensureTable();
    for (const shardId of [SHARD_0, SHARD_1]) await store.createLease(namespace, { shardId, checkpoint: { type: 'TRIM_HORIZON' } });
    await store.createLease(namespace, { shardId: 'shardId-000000000007', checkpoint: { type: 'SHARD_END' } });

    const atTime = await checkpointSet(stream, '--all-shards', '--to', '2026-12-01T08:00:00Z', '--json');
    expect(atTime.code, atTime.stderr).toBe(0);
    const moved = JSON.parse(atTime.stdout) as { moves: { shardId: string; to: string }[] };
    expect(moved.moves.map((move) => move.shardId)).toEqual([SHARD_0, SHARD_1]);
    expect(moved.moves.every((move) => move.to === 'AT_TIMESTAMP(2026-12-01T08:00:00.000Z)')).toBe(true);
    const lease = await leaseOf(stream, SHARD_1);
    expect(lease.checkpoint).toEqual({ type: 'AT_TIMESTAMP', timestamp: new Date('2026-12-01T08:00:00Z') });
    expect(lease.leaseCounter).toBe(1);

    const latest = await checkpointSet(stream, '--shard', SHARD_1, '--to', 'LATEST');
    expect(latest.code, latest.stderr).toBe(0);
    expect(latest.stdout).toBe(`${SHARD_1}: AT_TIMESTAMP(2026-12-01T08:00:00.000Z) → LATEST (no owner; lease epoch now 2)\n`);
    expect((await leaseOf(stream, SHARD_1)).checkpoint).toEqual({ type: 'LATEST' });
  });

  it('refuses, naming what is wrong, what would lose or reorder records', async () => {
    const stream = await local.createTestStream(2);
    const store = leaseStoreOf(stream);
    const namespace = leaseNamespace(stream.applicationName, stream.streamName);
    await store.ensureTable();
    await store.createLease(namespace, { shardId: SHARD_0, checkpoint: { type: 'TRIM_HORIZON' } });
    await store.createLease(namespace, { shardId: 'shardId-000000000007', checkpoint: { type: 'SHARD_END' } });
    await produce(stream, 40);
    const otherShard = (await shardRecords(stream, SHARD_1))[0]!.sequenceNumber;

    const cases: [string[], string][] = [
      [['--shard', SHARD_0, '--to', 'yesterday'], "option '--to <position>' argument 'yesterday' is invalid. must be TRIM_HORIZON, LATEST"],
      [['--to', 'LATEST'], 'name the shards to move with --shard, or give --all-shards'],
      [['--shard', SHARD_0, '--all-shards', '--to', 'LATEST'], 'give either --shard or --all-shards, not both'],
      [['--all-shards', '--to', otherShard], 'a sequence number belongs to one shard: give exactly one --shard with it'],
      [
        ['--shard', SHARD_0, '--to', otherShard],
        `sequence number ${otherShard} is not one of shard ${SHARD_0} of stream ${stream.streamName}`,
      ],
      [['--shard', 'shardId-000000000009', '--to', 'LATEST'], `no lease for shard shardId-000000000009 in ${namespace}`],
      [['--shard', 'shardId-000000000007', '--to', 'LATEST'], 'shard shardId-000000000007 is finished (SHARD_END)'],
    ];
    for (const [args, message] of cases) {
      const result = await checkpointSet(stream, ...args);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toContain(message);
    }
    // Nothing was written by any of them.
    expect(await leaseOf(stream, SHARD_0)).toMatchObject({ checkpoint: { type: 'TRIM_HORIZON' }, leaseCounter: 0 });
  });
});
