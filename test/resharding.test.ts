import { Kvm } from '@nats-io/kv';
import {
  NatsCoordinationBus,
  NatsLeaseStatePublisher,
  connectNats,
  leaseStateBucket,
  leaseStateKey,
  listShards,
  mergeShards,
  splitShard,
  type NatsLink,
} from '@shoal/coordinator';
import { produceRecords } from '@shoal/local-stack';
import type { Worker } from '@shoal/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetView } from './support/fleet.js';
import { eventually, ownedLeaseCount, silentLogger, useLocalStack, type TestStream } from './support/worker-harness.js';

/**
 * Resharding while a fleet consumes, on kinesalite: every parent is finished before any child,
 * so for every partition key the processing order equals the production order.
 */
const local = useLocalStack();
const links: NatsLink[] = [];

afterEach(async () => {
  for (const link of links.splice(0)) await link.close();
});

async function fleetWorker(stream: TestStream, workerId: string): Promise<Worker> {
  const link = connectNats({ servers: '127.0.0.1:4222', name: workerId, logger: silentLogger });
  links.push(link);
  expect(await link.ready(3_000)).toBe(true);
  const coordinationBus = new NatsCoordinationBus({
    link,
    application: stream.applicationName,
    streamName: stream.streamName,
    logger: silentLogger,
  });
  const leaseStatePublisher = NatsLeaseStatePublisher.create({ link, application: stream.applicationName, logger: silentLogger });
  const worker = await stream.createWorker({
    workerId,
    coordinationBus,
    leaseStatePublisher,
    leaseCleanupDelayMs: 0,
    shardSyncIntervalMs: 1_000,
  });
  void worker.run();
  return worker;
}

function openShardIds(shards: Awaited<ReturnType<typeof listShards>>): string[] {
  return shards.filter((shard) => shard.endingSequenceNumber === undefined).map((shard) => shard.shardId);
}

describe('resharding while consuming', () => {
  it('splits and merges with two workers: every record processed, per-key order kept, finished parents cleaned up', async () => {
    const stream = await local.createTestStream(4);
    const { kinesis } = local.stack();
    const first = await fleetWorker(stream, 'reshard-a');
    const producing = produceRecords({
      kinesis,
      streamName: stream.streamName,
      count: 6_000,
      batchSize: 25,
      pauseMs: 15,
      keyCount: 200,
      ledger: stream.ledger,
    });
    await eventually(() => ownedLeaseCount(first) === 4, 'one worker holds all 4 leases');
    const second = await fleetWorker(stream, 'reshard-b');
    await eventually(() => ownedLeaseCount(first) === 2 && ownedLeaseCount(second) === 2, 'each worker holds 2');

    const [toSplit] = openShardIds(await listShards(kinesis, stream.streamName));
    const split = await splitShard(kinesis, stream.streamName, toSplit!);
    expect(split.childShards).toHaveLength(2);
    await eventually(() => [ownedLeaseCount(first), ownedLeaseCount(second)].sort().join() === '2,3', 'five open shards are held 3 and 2');

    const shards = await listShards(kinesis, stream.streamName);
    const open = shards.filter((shard) => shard.endingSequenceNumber === undefined);
    const pair = open.flatMap((a) =>
      open.filter((b) => BigInt(a.hashKeyRange.endingHashKey) + 1n === BigInt(b.hashKeyRange.startingHashKey)).map((b) => [a, b] as const),
    )[0]!;
    const merged = await mergeShards(kinesis, stream.streamName, pair[0].shardId, pair[1].shardId);
    expect(merged.childShards).toHaveLength(1);
    await eventually(() => ownedLeaseCount(first) + ownedLeaseCount(second) === 4, 'four open shards are held again');

    await producing;
    expect(await stream.ledger.waitForAllProcessed(30_000)).toBe(true);
    expect(stream.ledger.summary()).toMatchObject({ produced: 6_000, lost: 0, outOfOrder: 0 });

    // The three finished parents are deleted once their children started; the open shards stay.
    const view = await FleetView.open(local.stack(), stream);
    try {
      const openNow = openShardIds(await listShards(kinesis, stream.streamName)).sort();
      await eventually(
        async () =>
          (await view.read()).leases
            .map((lease) => lease.shardId)
            .sort()
            .join() === openNow.join(),
        'only open shards keep leases',
      );
    } finally {
      view.close();
    }
    // Their machines' states go from the lease-state bucket with them.
    const connection = links[0]!.connection()!;
    const kv = await new Kvm(connection).open(leaseStateBucket(stream.applicationName));
    try {
      const openNow = openShardIds(await listShards(kinesis, stream.streamName));
      const expected = openNow.map((shardId) => leaseStateKey(stream.streamName, shardId)).sort();
      await eventually(async () => {
        const keys: string[] = [];
        for await (const key of await kv.keys()) keys.push(key);
        return keys.sort().join() === expected.join();
      }, 'only open shards keep a lease state');
    } finally {
      await kv.destroy();
    }
  });
});
