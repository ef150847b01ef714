import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
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
});
