import { RedisScalingHistory, RedisTrafficStore } from '@shoal/autoscaler';
import { listShards } from '@shoal/coordinator';
import { produceRecords, uniqueName } from '@shoal/local-stack';
import { describe, expect, it } from 'vitest';
import { NATS_URL } from './support/fleet-processes.js';
import { SHARED_REDIS_URL, useSharedRedis } from './support/shared-redis.js';
import { eventually, ledgerProcessor, useLocalStack } from './support/worker-harness.js';

/**
 * `autoscale` as a worker option: the fleet's leader plans from the traffic windows its workers
 * write to Redis and scales the stream (on kinesalite, which has no UpdateShardCount, by splits),
 * recording what it did in the shared history.
 */
const local = useLocalStack();
const redis = useSharedRedis();

describe('the leader’s autoscaling duty', () => {
  it('scales a stream up when its traffic passes one shard, and records it in Redis', { timeout: 90_000 }, async () => {
    const stream = await local.createTestStream(1);
    const { streamName, ledger } = stream;
    const kinesis = local.stack().kinesis;
    const worker = await stream.createWorker({
      nats: { servers: NATS_URL },
      redis: { url: SHARED_REDIS_URL },
      trafficSink: new RedisTrafficStore({ redis: redis(), windowMs: 2_000, keyPrefix: uniqueName('traffic') }),
      trafficFlushIntervalMs: 300,
      autoscale: { rules: { upSustainMinutes: 1, upCooldownMinutes: 0 }, intervalMs: 1_000 },
      processorFactory: ledgerProcessor(ledger),
    });
    void worker.run();

    const open = async () => (await listShards(kinesis, streamName)).filter((shard) => shard.endingSequenceNumber === undefined).length;
    const deadline = Date.now() + 45_000;
    // About 1.4 MiB/s, more than one shard takes, until the leader has split the stream.
    for (let second = 0; Date.now() < deadline && (await open()) < 2; second += 1) {
      await produceRecords({ kinesis, streamName, count: 120, recordBytes: 12_000, keyCount: 16, idPrefix: `load-${second}`, ledger });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect(await open()).toBeGreaterThanOrEqual(2);
    // The step is recorded once the stream is ACTIVE again, a moment after the new shards show.
    const history = new RedisScalingHistory({ redis: redis() });
    await eventually(
      async () => (await history.recent(streamName, 0)).some((event) => event.kind === 'update-shard-count' && event.outcome === 'applied'),
      'the leader recorded the applied step',
    );
    expect((await history.callTimes(streamName, 0)).length).toBeGreaterThanOrEqual(1);
    expect(await ledger.waitForAllProcessed(30_000)).toBe(true);
    expect(ledger.summary()).toMatchObject({ lost: 0, outOfOrder: 0 });
    await eventually(() => worker.state === 'running', 'the worker runs on');
  });
});
