import { Autoscaler, MemoryScalingHistory, RedisTrafficStore, resolveScalingRules } from '@shoal/autoscaler';
import { listShards } from '@shoal/coordinator';
import { produceRecords, uniqueName } from '@shoal/local-stack';
import { describe, expect, it } from 'vitest';
import { useSharedRedis } from './support/shared-redis.js';
import { ledgerProcessor, silentLogger, useLocalStack } from './support/worker-harness.js';

/**
 * Uniform autoscaling on kinesis-local (which has UpdateShardCount): traffic ramps up past one
 * shard's 1 MiB/s of writes, then falls to a trickle; the autoscaler, planning from the traffic
 * windows a consuming worker writes to Redis, scales the stream up and back down, and the worker
 * reads every record once, in key order, through both changes.
 */
const local = useLocalStack({ kinesis: 'kinesis-local', shardLimit: 20 });
const WINDOW_MS = 2_000;

const redis = useSharedRedis();

describe('autoscaling a stream up and down with its traffic', () => {
  it('scales up under a ramp and back down after it, losing nothing and keeping key order', { timeout: 150_000 }, async () => {
    const stream = await local.createTestStream(1);
    const { streamName, ledger } = stream;
    const kinesis = local.stack().kinesis;
    const traffic = new RedisTrafficStore({ redis: redis(), windowMs: WINDOW_MS, keyPrefix: uniqueName('traffic') });
    const worker = await stream.createWorker({
      trafficSink: traffic,
      trafficFlushIntervalMs: 300,
      processorFactory: ledgerProcessor(ledger),
      shardSyncIntervalMs: 1_000,
    });
    void worker.run();
    const history = new MemoryScalingHistory();
    const autoscaler = new Autoscaler({
      kinesis,
      streamName,
      traffic,
      history,
      // Ten polling applications share each shard's 2 MiB/s of reads: a few hundred KiB/s of writes needs two shards.
      rules: resolveScalingRules({
        upSustainMinutes: 1,
        downSustainMinutes: 2,
        downCooldownMinutes: 0,
        upCooldownMinutes: 0,
        pollingConsumers: 10,
      }),
      windowMs: WINDOW_MS,
      logger: silentLogger,
    });
    const openCount = async () =>
      (await listShards(kinesis, streamName)).filter((shard) => shard.endingSequenceNumber === undefined).length;

    /** Puts `perSecond` records of `bytes` each second, planning after each, until `done` or the deadline. */
    async function drive(perSecond: number, bytes: number, prefix: string, done: (open: number) => boolean): Promise<number> {
      const deadline = Date.now() + 45_000;
      for (let second = 0; Date.now() < deadline; second += 1) {
        const started = Date.now();
        await produceRecords({
          kinesis,
          streamName,
          count: perSecond,
          recordBytes: bytes,
          keyCount: 16,
          idPrefix: `${prefix}-${second}`,
          ledger,
        });
        await autoscaler.runOnce();
        const open = await openCount();
        if (done(open)) return open;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1_000 - (Date.now() - started))));
      }
      return openCount();
    }

    // About 300 KiB/s, read by ten applications: more than one shard serves.
    expect(await drive(30, 10_000, 'ramp', (open) => open >= 2)).toBeGreaterThanOrEqual(2);
    // A trickle: back to one shard.
    expect(await drive(5, 200, 'quiet', (open) => open === 1)).toBe(1);

    const changes = (await history.recent(streamName, 0)).reverse();
    expect(changes.map((event) => [event.kind, event.outcome, event.from! < event.to! ? 'up' : 'down'])).toEqual([
      ['update-shard-count', 'applied', 'up'],
      ['update-shard-count', 'applied', 'down'],
    ]);
    expect(changes[0]!.reasons[0]).toMatch(/^utilisation at or above 88 %/);
    expect(await ledger.waitForAllProcessed(60_000)).toBe(true);
    expect(ledger.summary()).toMatchObject({ lost: 0, duplicates: 0, outOfOrder: 0 });
  });
});
