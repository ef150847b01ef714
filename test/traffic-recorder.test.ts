import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { Autoscaler, MemoryScalingHistory, RedisTrafficStore, minuteOf, resolveScalingRules } from '@shoal/autoscaler';
import { listShards } from '@shoal/coordinator';
import { uniqueName } from '@shoal/local-stack';
import { afterEach, describe, expect, it } from 'vitest';
import { aggregateUserRecords, type EncodedAggregate } from './support/kpl-aggregate.js';
import { useSharedRedis } from './support/shared-redis.js';
import { eventually, processorWith, silentLogger, useLocalStack } from './support/worker-harness.js';

/**
 * The traffic windows workers write for the autoscaler, on kinesalite and the shared Redis:
 * counted as Kinesis counts its limits, written for every shard a worker reads, and never in the
 * way of the records themselves.
 */
const redis = useSharedRedis();
const KEY_ROOT = uniqueName('traffic-recorder');
// Registered before the stack, so it runs after the workers' last flush at close.
afterEach(async () => {
  const keys = await redis().keys(`${KEY_ROOT}:*`);
  if (keys.length > 0) await redis().del(...keys);
});
const local = useLocalStack();

function trafficStore(windowMs: number): RedisTrafficStore {
  return new RedisTrafficStore({ redis: redis(), windowMs, keyPrefix: `${KEY_ROOT}:${uniqueName('traffic')}` });
}

async function put(kinesis: KinesisClient, streamName: string, records: readonly EncodedAggregate[]): Promise<void> {
  const { FailedRecordCount } = await kinesis.send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: records.map((record) => ({ PartitionKey: record.partitionKey, Data: record.data })),
    }),
  );
  expect(FailedRecordCount ?? 0).toBe(0);
}

describe('the traffic windows a worker writes', () => {
  it('count a KPL aggregate as one Kinesis record of its own size, as Kinesis limits it', async () => {
    const WINDOW_MS = 10_000;
    const stream = await local.createTestStream(1);
    const kinesis = local.stack().kinesis;
    const traffic = trafficStore(WINDOW_MS);
    // 100 aggregates of 100 user records each: 100 Kinesis records (10 a second in the window), 10,000 user records.
    const aggregates: EncodedAggregate[] = [];
    for (let index = 0; index < 100; index += 1) {
      const users = Array.from({ length: 100 }, (_, user) => ({
        partitionKey: `device-${index}-${user}`,
        data: Buffer.from(`reading-${user}`),
      }));
      aggregates.push(...(await aggregateUserRecords(users)));
    }
    expect(aggregates).toHaveLength(100);
    // All put within one window: wait for the next one when less than 3 s of this one is left.
    const untilNext = minuteOf(Date.now(), WINDOW_MS) + WINDOW_MS - Date.now();
    if (untilNext < 3_000) await new Promise((resolve) => setTimeout(resolve, untilNext + 50));
    const window = minuteOf(Date.now(), WINDOW_MS);
    await put(kinesis, stream.streamName, aggregates);
    expect(minuteOf(Date.now(), WINDOW_MS), 'the put ended in the window it started in').toBe(window);

    let delivered = 0;
    const worker = await stream.createWorker({
      trafficSink: traffic,
      trafficFlushIntervalMs: 200,
      processorFactory: () =>
        processorWith(async ({ records, checkpointer }) => {
          delivered += records.length;
          await checkpointer.checkpoint();
        }),
    });
    void worker.run();
    await eventually(() => delivered === 10_000, 'every user record delivered');
    const counted = async () => (await traffic.shardMinutes(stream.streamName, window, window + WINDOW_MS))[0];
    await eventually(async () => ((await counted())?.incomingRecords ?? 0) >= 100, 'the window written');
    const bytes = aggregates.reduce((sum, record) => sum + record.data.byteLength + Buffer.byteLength(record.partitionKey), 0);
    expect(await counted()).toMatchObject({ incomingRecords: 100, incomingBytes: bytes });

    const decision = await new Autoscaler({
      kinesis,
      streamName: stream.streamName,
      traffic,
      history: new MemoryScalingHistory(),
      rules: resolveScalingRules(),
      windowMs: WINDOW_MS,
      dryRun: true,
      logger: silentLogger,
      now: () => window + WINDOW_MS + 1,
    }).runOnce();
    expect(decision.plan).toMatchObject({ action: 'hold' });
  });

  it('never make a batch be delivered again, even one with a KPL user record whose explicit hash key Kinesis would refuse', async () => {
    const stream = await local.createTestStream(1);
    const kinesis = local.stack().kinesis;
    // Kinesis never looks inside an aggregate: a user record's explicit hash key is whatever the producer wrote.
    const withBadKey = await aggregateUserRecords([
      { partitionKey: 'device-a', data: Buffer.from('one') },
      { partitionKey: 'device-b', data: Buffer.from('two'), explicitHashKey: 'not-a-hash-key' },
      { partitionKey: 'device-c', data: Buffer.from('three') },
    ]);
    await put(kinesis, stream.streamName, withBadKey);
    const seen: string[] = [];
    const worker = await stream.createWorker({
      trafficSink: trafficStore(1_000),
      trafficFlushIntervalMs: 200,
      processorFactory: () =>
        processorWith(async ({ records }) => {
          seen.push(...records.map((record) => Buffer.from(record.data).toString()));
        }),
    });
    void worker.run();
    await eventually(() => seen.length >= 3, 'the aggregate delivered');
    // A batch delivered again would come before the next record.
    await put(kinesis, stream.streamName, [{ partitionKey: 'device-d', data: Buffer.from('next') }]);
    await eventually(() => seen.includes('next'), 'the next record delivered');
    expect(seen).toEqual(['one', 'two', 'three', 'next']);
  });

  it('mark every shard the worker reads as measured, also in windows without a record', async () => {
    const WINDOW_MS = 1_000;
    const stream = await local.createTestStream(2);
    const traffic = trafficStore(WINDOW_MS);
    const from = minuteOf(Date.now(), WINDOW_MS);
    const worker = await stream.createWorker({ trafficSink: traffic, trafficFlushIntervalMs: 200 });
    void worker.run();
    const quietShards = async () => {
      const windows = await traffic.shardMinutes(stream.streamName, from, Date.now() + WINDOW_MS);
      return new Set(windows.filter((window) => window.incomingRecords === 0).map((window) => window.shardId));
    };
    await eventually(async () => (await quietShards()).size === 2, 'both shards measured at zero');
    const shardIds = (await listShards(local.stack().kinesis, stream.streamName)).map((shard) => shard.shardId);
    expect([...(await quietShards())].sort()).toEqual(shardIds.sort());
  });
});
