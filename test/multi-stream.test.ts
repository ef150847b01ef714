import { DynamoDBClient, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { KinesisClient, LimitExceededException } from '@aws-sdk/client-kinesis';
import {
  DynamoDbLeaseStore,
  NatsCoordinationBus,
  connectNats,
  leaseNamespace,
  listShards,
  splitShard,
  type NatsLink,
} from '@shoal/coordinator';
import { RecordLedger, produceRecords, uniqueName } from '@shoal/local-stack';
import type { ShardRecordProcessorFactory, ShutdownRequestReason } from '@shoal/processor-sdk';
import { Worker, type WorkerOptions } from '@shoal/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { injectFaults } from './support/fault-injection.js';
import {
  FAST_TIMINGS,
  eventually,
  ownedLeaseCount,
  processorWith,
  recordId,
  silentLogger,
  useLocalStack,
} from './support/worker-harness.js';

/**
 * One application consuming several streams with one fleet: one lease namespace, lease keys
 * `<stream>:<shardId>`, each record delivered with its stream's name, and streams that come and
 * go under a pattern. On kinesalite, dynalite and NATS.
 */
const local = useLocalStack();
const workers: Worker[] = [];
const links: NatsLink[] = [];
const clients: DynamoDBClient[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.close()));
  for (const link of links.splice(0)) await link.close();
  for (const client of clients.splice(0)) client.destroy();
});

/** A processor factory that files each record under the stream its lease names, and notes why leases were given up. */
function routedProcessor(
  ledgers: ReadonlyMap<string, RecordLedger>,
  shutdowns: { leaseKey: string; reason: ShutdownRequestReason }[] = [],
) {
  const factory: ShardRecordProcessorFactory = ({ streamName, leaseKey }) => {
    const ledger = ledgers.get(streamName);
    if (!ledger) throw new Error(`a lease of ${streamName}, which this application does not consume`);
    const processor = processorWith(async ({ records, checkpointer }) => {
      for (const record of records) ledger.recordProcessed(recordId(record));
      await checkpointer.checkpoint();
    });
    return {
      ...processor,
      async shutdownRequested(input) {
        shutdowns.push({ leaseKey, reason: input.reason });
        await processor.shutdownRequested(input);
      },
    };
  };
  return factory;
}

/** A routed processor factory per worker that notes which worker started which lease. */
function noteStarts(ledgers: ReadonlyMap<string, RecordLedger>) {
  const started: { workerId: string; leaseKey: string }[] = [];
  const counting =
    (workerId: string): ShardRecordProcessorFactory =>
    (shard) => {
      started.push({ workerId, leaseKey: shard.leaseKey });
      return routedProcessor(ledgers)(shard);
    };
  return { started, counting };
}

async function busFor(applicationName: string, workerId: string, streamName?: string): Promise<NatsCoordinationBus> {
  const link = connectNats({ servers: '127.0.0.1:4222', name: workerId, logger: silentLogger });
  links.push(link);
  expect(await link.ready(3_000), 'NATS at 127.0.0.1:4222 must answer').toBe(true);
  return new NatsCoordinationBus({
    link,
    application: applicationName,
    ...(streamName === undefined ? {} : { streamName }),
    logger: silentLogger,
  });
}

async function startWorker(options: WorkerOptions): Promise<Worker> {
  const stack = local.stack();
  const worker = await Worker.create({
    initialPosition: 'TRIM_HORIZON',
    kinesis: stack.clientConfig('kinesis'),
    dynamoDb: stack.clientConfig('dynamodb'),
    logger: silentLogger,
    ...FAST_TIMINGS,
    shardSyncIntervalMs: 1_000,
    leaseCleanupDelayMs: 0,
    ...options,
  });
  workers.push(worker);
  void worker.run();
  return worker;
}

function leaseStore(leaseTableName: string): DynamoDbLeaseStore {
  const client = new DynamoDBClient(local.stack().clientConfig('dynamodb'));
  clients.push(client);
  return new DynamoDbLeaseStore({ client, tableName: leaseTableName });
}

describe('one application, several streams', () => {
  it('spreads the leases of a stream list over one fleet, keyed by stream, and resharding one stream keeps per-key order', async () => {
    const stack = local.stack();
    const shardCounts = [2, 1, 3];
    const streamNames = shardCounts.map(() => uniqueName('multi'));
    await Promise.all(streamNames.map((name, i) => stack.createStream(name, shardCounts[i]!)));
    const ledgers = new Map(streamNames.map((name) => [name, new RecordLedger()]));
    const applicationName = uniqueName('app');
    const leaseTableName = uniqueName('leases');
    const fleet = await Promise.all(
      ['multi-a', 'multi-b'].map(async (workerId) =>
        startWorker({
          applicationName,
          streams: streamNames,
          leaseTableName,
          workerId,
          processorFactory: routedProcessor(ledgers),
          coordinationBus: await busFor(applicationName, workerId),
        }),
      ),
    );
    await eventually(() => fleet.every((worker) => ownedLeaseCount(worker) === 3), 'the 6 leases of 3 streams are held 3 and 3', 30_000);
    const held = fleet.flatMap((worker) => worker.leases());
    expect(held.map((lease) => lease.leaseKey).sort()).toEqual(
      streamNames
        .flatMap((name, i) => Array.from({ length: shardCounts[i]! }, (_, n) => `${name}:shardId-${String(n).padStart(12, '0')}`))
        .sort(),
    );
    for (const lease of held) expect(lease.leaseKey).toBe(`${lease.streamName}:${lease.shardId}`);

    // One namespace for the application; the rows name their streams.
    const { leases } = await leaseStore(leaseTableName).readNamespace(leaseNamespace(applicationName));
    expect(leases).toHaveLength(6);
    for (const lease of leases) expect(lease.leaseKey).toBe(`${lease.streamName}:${lease.shardId}`);

    const producing = Promise.all(
      streamNames.map((streamName) =>
        produceRecords({
          kinesis: stack.kinesis,
          streamName,
          count: 1_500,
          batchSize: 50,
          pauseMs: 10,
          keyCount: 40,
          ledger: ledgers.get(streamName),
        }),
      ),
    );
    // Split the one-shard stream while records flow: its children wait for it, as in a stream of its own.
    const resharded = streamNames[1]!;
    const [parent] = await listShards(stack.kinesis, resharded);
    const { childShards } = await splitShard(stack.kinesis, resharded, parent!.shardId);
    await producing;
    for (const [streamName, ledger] of ledgers) {
      expect(await ledger.waitForAllProcessed(30_000), `every record of ${streamName} processed`).toBe(true);
      expect(ledger.summary(), streamName).toMatchObject({ lost: 0, outOfOrder: 0 });
    }
    await eventually(() => {
      const keys = fleet.flatMap((worker) => worker.leases()).map((lease) => lease.leaseKey);
      return childShards.every((child) => keys.includes(`${resharded}:${child.shardId}`));
    }, 'the children of the split shard are held under keys of their stream');
  });

  it('consumes a stream that starts to match the pattern, and releases the leases of one that is deleted', async () => {
    const stack = local.stack();
    const prefix = uniqueName('pattern');
    const first = `${prefix}-first`;
    await stack.createStream(first, 2);
    await stack.createStream(`${prefix}x-other`, 1);
    const second = `${prefix}-second`;
    const ledgers = new Map([first, second].map((name) => [name, new RecordLedger()]));
    const shutdowns: { leaseKey: string; reason: ShutdownRequestReason }[] = [];
    const applicationName = uniqueName('app');
    const leaseTableName = uniqueName('leases');
    // Without a bus: each worker creates and takes leases through the table alone.
    const worker = await startWorker({
      applicationName,
      streamPattern: new RegExp(`${prefix}-.+`),
      streamRefreshIntervalMs: 300,
      leaseTableName,
      workerId: 'pattern-a',
      processorFactory: routedProcessor(ledgers, shutdowns),
    });
    await eventually(() => ownedLeaseCount(worker) === 2, 'the first stream’s 2 leases are held');
    expect(worker.streamNames()).toEqual([first]);
    expect((await leaseStore(leaseTableName).getWorker(leaseNamespace(applicationName), 'pattern-a'))?.streams).toEqual([first]);

    await stack.createStream(second, 1);
    await eventually(() => ownedLeaseCount(worker) === 3, 'a new matching stream is consumed');
    await produceRecords({
      kinesis: stack.kinesis,
      streamName: second,
      count: 200,
      batchSize: 50,
      keyCount: 10,
      ledger: ledgers.get(second),
    });
    expect(await ledgers.get(second)!.waitForAllProcessed(20_000)).toBe(true);

    await stack.deleteStream(first);
    await eventually(() => worker.leases().every((lease) => lease.streamName === second), 'the deleted stream’s leases are given up');
    expect(shutdowns.filter((shutdown) => shutdown.leaseKey.startsWith(`${first}:`)).map((shutdown) => shutdown.reason)).toEqual([
      'stream-removed',
      'stream-removed',
    ]);
    // Released, with their checkpoints kept, and not taken again while the stream stays away.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const { leases } = await leaseStore(leaseTableName).readNamespace(leaseNamespace(applicationName));
    const ofFirst = leases.filter((lease) => lease.streamName === first);
    expect(ofFirst).toHaveLength(2);
    for (const lease of ofFirst) expect(lease.leaseOwner).toBeUndefined();
    expect(worker.leases().map((lease) => lease.streamName)).toEqual([second]);
    // The worker's record lists what the pattern matches now, so planners hand it only those.
    const store = leaseStore(leaseTableName);
    await eventually(
      async () => (await store.getWorker(leaseNamespace(applicationName), 'pattern-a'))?.streams?.join() === second,
      'the worker record lists the streams the pattern matches now',
    );
  });

  it('keeps two fleets of one application on two streams apart: each elects its own leader and balances its own leases', async () => {
    const stack = local.stack();
    const applicationName = uniqueName('app');
    const leaseTableName = uniqueName('leases');
    const streamNames = [uniqueName('apart'), uniqueName('apart')];
    await Promise.all(streamNames.map((name) => stack.createStream(name, 4)));
    const ledgers = new Map(streamNames.map((name) => [name, new RecordLedger()]));
    const fleets = await Promise.all(
      streamNames.map((streamName, f) =>
        Promise.all(
          [0, 1].map(async (n) => {
            const workerId = `apart-${f}-${n}`;
            return startWorker({
              applicationName,
              streamName,
              leaseTableName,
              workerId,
              processorFactory: routedProcessor(ledgers),
              coordinationBus: await busFor(applicationName, workerId, streamName),
            });
          }),
        ),
      ),
    );
    for (const [f, fleet] of fleets.entries()) {
      await eventually(() => fleet.every((worker) => ownedLeaseCount(worker) === 2), `fleet ${f} holds its 4 leases 2 and 2`, 30_000);
    }
    const store = leaseStore(leaseTableName);
    const leaders = await Promise.all(
      streamNames.map(async (name) => (await store.getLeadership(leaseNamespace(applicationName, name)))?.leaderId),
    );
    expect(leaders[0]).toMatch(/^apart-0-/);
    expect(leaders[1]).toMatch(/^apart-1-/);
    await Promise.all(
      streamNames.map((streamName) =>
        produceRecords({ kinesis: stack.kinesis, streamName, count: 400, batchSize: 50, keyCount: 20, ledger: ledgers.get(streamName) }),
      ),
    );
    for (const [streamName, ledger] of ledgers) {
      expect(await ledger.waitForAllProcessed(20_000), streamName).toBe(true);
      expect(ledger.summary()).toMatchObject({ lost: 0, outOfOrder: 0 });
    }
  });

  it('runs no lease of a stream it does not consume, even when a leader with another list plans one for it (a rolling deploy)', async () => {
    const stack = local.stack();
    const [kept, dropped] = [uniqueName('kept'), uniqueName('dropped')];
    await Promise.all([stack.createStream(kept, 2), stack.createStream(dropped, 2)]);
    const ledgers = new Map([kept, dropped].map((name) => [name, new RecordLedger()]));
    const applicationName = uniqueName('app');
    const leaseTableName = uniqueName('leases');
    const { started, counting } = noteStarts(ledgers);
    // The old version consumes both streams and leads; the new one dropped a stream from its list.
    const old = await startWorker({
      applicationName,
      streams: [kept, dropped],
      leaseTableName,
      workerId: 'old-leader',
      processorFactory: counting('old-leader'),
      coordinationBus: await busFor(applicationName, 'old-leader'),
    });
    await eventually(() => ownedLeaseCount(old) === 4, 'the old worker holds all 4 leases');
    const fresh = await startWorker({
      applicationName,
      streams: [kept],
      leaseTableName,
      workerId: 'new-member',
      processorFactory: counting('new-member'),
      coordinationBus: await busFor(applicationName, 'new-member'),
    });
    // The leader plans only the leases of its stream for the new worker: 2 and 2, and it stays so.
    await eventually(
      () => ownedLeaseCount(fresh) === 2 && ownedLeaseCount(old) === 2,
      'the new worker holds both leases of its stream, and every lease runs',
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(started.filter(({ workerId, leaseKey }) => workerId === 'new-member' && leaseKey.startsWith(`${dropped}:`))).toEqual([]);
    expect(fresh.leases().every((lease) => lease.streamName === kept)).toBe(true);
    expect(old.leases().filter((lease) => lease.streamName === dropped && lease.state.startsWith('owned'))).toHaveLength(2);
  });

  it('consumes a stream that only newer workers list while an older worker leads (a rolling deploy adding a stream)', async () => {
    const stack = local.stack();
    const [existing, added] = [uniqueName('existing'), uniqueName('added')];
    await Promise.all([stack.createStream(existing, 2), stack.createStream(added, 2)]);
    const ledgers = new Map([existing, added].map((name) => [name, new RecordLedger()]));
    const applicationName = uniqueName('app');
    const leaseTableName = uniqueName('leases');
    const { started, counting } = noteStarts(ledgers);
    const old = await startWorker({
      applicationName,
      streams: [existing],
      leaseTableName,
      workerId: 'old-leader',
      processorFactory: counting('old-leader'),
      coordinationBus: await busFor(applicationName, 'old-leader'),
    });
    await eventually(() => ownedLeaseCount(old) === 2, 'the old worker holds both leases of its stream');
    const fresh = await startWorker({
      applicationName,
      streams: [existing, added],
      leaseTableName,
      workerId: 'new-member',
      processorFactory: counting('new-member'),
      coordinationBus: await busFor(applicationName, 'new-member'),
    });
    // The leader does not list the new stream: the new worker creates its leases, and the
    // leader plans them to it alone.
    await eventually(
      () => fresh.leases().filter((lease) => lease.streamName === added && lease.state.startsWith('owned')).length === 2,
      'the new worker runs both leases of the added stream',
      20_000,
    );
    await Promise.all(
      [existing, added].map((streamName) =>
        produceRecords({ kinesis: stack.kinesis, streamName, count: 400, batchSize: 50, keyCount: 20, ledger: ledgers.get(streamName) }),
      ),
    );
    for (const [streamName, ledger] of ledgers) {
      expect(await ledger.waitForAllProcessed(30_000), `every record of ${streamName} processed`).toBe(true);
      expect(ledger.summary(), streamName).toMatchObject({ lost: 0, outOfOrder: 0 });
    }
    expect(ownedLeaseCount(old) + ownedLeaseCount(fresh)).toBe(4);
    expect(started.filter(({ workerId, leaseKey }) => workerId === 'old-leader' && leaseKey.startsWith(`${added}:`))).toEqual([]);
    expect((await leaseStore(leaseTableName).getLeadership(leaseNamespace(applicationName)))?.leaderId).toBe('old-leader');
  });

  it('runs every lease when the per-worker cap leaves exactly enough room and the workers list different streams', async () => {
    const stack = local.stack();
    const prefix = uniqueName('capped');
    // Names sort so that the shared stream's lease comes first.
    const [shared, onlyA] = [`${prefix}-1shared`, `${prefix}-2only-a`];
    await Promise.all([stack.createStream(shared, 1), stack.createStream(onlyA, 1)]);
    const ledgers = new Map([shared, onlyA].map((name) => [name, new RecordLedger()]));
    const applicationName = uniqueName('app');
    const leaseTableName = uniqueName('leases');
    const start = async (workerId: string, streams: string[]) =>
      startWorker({
        applicationName,
        workerId,
        streams,
        leaseTableName,
        maxLeasesPerWorker: 1,
        processorFactory: routedProcessor(ledgers),
        coordinationBus: await busFor(applicationName, workerId),
      });
    const both = await start('capped-both', [shared, onlyA]);
    await eventually(() => ownedLeaseCount(both) === 1, 'the first worker holds one lease, its cap');
    const sharedOnly = await start('capped-shared', [shared]);
    // Two leases, room for one each: the shared stream's goes to the worker that lists only it.
    await eventually(
      () =>
        ownedLeaseCount(both) === 1 && sharedOnly.leases().some((lease) => lease.streamName === shared && lease.state.startsWith('owned')),
      'both leases run, each where it may',
    );
    expect(both.leases().map((lease) => lease.streamName)).toEqual([onlyA]);
  });

  it('gives up for good the leases of a deleted stream, although a leader that has not listed the streams since plans them back', async () => {
    const stack = local.stack();
    const prefix = uniqueName('stale');
    const [stays, goes] = [`${prefix}-stays`, `${prefix}-goes`];
    await Promise.all([stack.createStream(stays, 2), stack.createStream(goes, 2)]);
    const ledgers = new Map([stays, goes].map((name) => [name, new RecordLedger()]));
    const applicationName = uniqueName('app');
    const leaseTableName = uniqueName('leases');
    const pattern = new RegExp(`${prefix}-.+`);
    // The leader lists streams every 8 s, the member every 300 ms: the leader's view lags.
    const leader = await startWorker({
      applicationName,
      streamPattern: pattern,
      streamRefreshIntervalMs: 8_000,
      leaseTableName,
      workerId: 'slow-lister',
      processorFactory: routedProcessor(ledgers),
      coordinationBus: await busFor(applicationName, 'slow-lister'),
    });
    await eventually(() => ownedLeaseCount(leader) === 4, 'the leader holds all 4 leases');
    const member = await startWorker({
      applicationName,
      streamPattern: pattern,
      streamRefreshIntervalMs: 300,
      leaseTableName,
      workerId: 'fast-lister',
      processorFactory: routedProcessor(ledgers),
      coordinationBus: await busFor(applicationName, 'fast-lister'),
    });
    await eventually(() => ownedLeaseCount(member) === 2 && ownedLeaseCount(leader) === 2, 'balanced 2 and 2');
    await stack.deleteStream(goes);
    await eventually(() => member.leases().every((lease) => lease.streamName === stays), 'the member gives up the deleted stream’s leases');
    // Past the leader's next listing, nobody runs them and the rows are free.
    await eventually(() => !leader.streamNames().includes(goes), 'the leader lists the streams again', 20_000);
    await eventually(async () => {
      const { leases } = await leaseStore(leaseTableName).readNamespace(leaseNamespace(applicationName));
      return leases.filter((lease) => lease.streamName === goes).every((lease) => lease.leaseOwner === undefined);
    }, 'the deleted stream’s leases are free');
    // The row is free as soon as the release is written; the machine that wrote it ends a moment later.
    await eventually(
      () => [leader, member].every((worker) => worker.leases().every((lease) => lease.streamName !== goes)),
      'no worker hosts the deleted stream’s leases',
    );
    await eventually(() => ownedLeaseCount(member) + ownedLeaseCount(leader) === 2, 'the remaining stream’s 2 leases run');
  });

  it('starts although ListStreams is throttled at first (5 calls a second per account, shared)', async () => {
    const stack = local.stack();
    const prefix = uniqueName('throttled');
    await stack.createStream(`${prefix}-a`, 1);
    const kinesis = new KinesisClient(stack.clientConfig('kinesis'));
    const { calls } = injectFaults(kinesis, (command, index) =>
      command === 'ListStreamsCommand' && index < 14
        ? new LimitExceededException({ message: 'Rate exceeded for account (injected)', $metadata: { httpStatusCode: 400 } })
        : undefined,
    );
    try {
      const ledgers = new Map([[`${prefix}-a`, new RecordLedger()]]);
      const worker = await startWorker({
        applicationName: uniqueName('app'),
        streamPattern: `${prefix}-.+`,
        leaseTableName: uniqueName('leases'),
        workerId: 'throttled',
        kinesis,
        processorFactory: routedProcessor(ledgers),
      });
      await eventually(() => ownedLeaseCount(worker) === 1, 'the worker starts and takes the stream’s lease', 40_000);
      expect(calls.get('ListStreamsCommand')).toBeGreaterThan(14);
    } finally {
      kinesis.destroy();
    }
  });

  it('leaves alone rows that do not fit the namespace: a qualified row in a single-stream one, a squatting one in a multi-stream one', async () => {
    const stack = local.stack();
    const marshal = (value: unknown): AttributeValue =>
      typeof value === 'number' ? { N: String(value) } : Array.isArray(value) ? { L: value.map(marshal) } : { S: String(value) };
    const put = (tableName: string, item: Record<string, unknown>) =>
      stack.dynamodb.send(
        new PutItemCommand({
          TableName: tableName,
          Item: Object.fromEntries(Object.entries(item).map(([key, value]) => [key, marshal(value)])),
        }),
      );
    const row = {
      kind: 'lease',
      leaseCounter: 0,
      checkpoint: 'TRIM_HORIZON',
      checkpointSubSequence: 0,
      parentShardIds: [],
      childShardIds: [],
    };

    // One stream: a row keyed `<stream>:<shard>` would be a second lease of a shard already leased.
    const single = await local.createTestStream(1);
    const worker = await single.createWorker({ workerId: 'single' });
    void worker.run();
    await eventually(() => ownedLeaseCount(worker) === 1, 'the shard’s lease runs');
    await put(single.leaseTableName, {
      ...row,
      namespace: leaseNamespace(single.applicationName, single.streamName),
      itemKey: `lease#${single.streamName}:shardId-000000000000`,
      shardId: 'shardId-000000000000',
      streamName: single.streamName,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(worker.leases().map((lease) => lease.leaseKey)).toEqual(['shardId-000000000000']);

    // Several streams: a row whose shard id holds a `:` is malformed, named in the read.
    const squatted = uniqueName('squat');
    const applicationName = uniqueName('app');
    const leaseTableName = single.leaseTableName;
    await put(leaseTableName, {
      ...row,
      namespace: leaseNamespace(applicationName),
      itemKey: `lease#${squatted}:shardId-000000000000`,
      shardId: `${squatted}:shardId-000000000000`,
    });
    const { malformed } = await leaseStore(leaseTableName).readNamespace(leaseNamespace(applicationName));
    expect(malformed).toEqual([
      expect.objectContaining({ itemKey: `lease#${squatted}:shardId-000000000000`, problem: expect.stringMatching(/^shardId: /) }),
    ]);
  });
});
