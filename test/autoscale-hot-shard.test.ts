import { GetRecordsCommand, GetShardIteratorCommand, PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { Autoscaler, MemoryScalingHistory, RedisTrafficStore, resolveScalingRules } from '@shoal/autoscaler';
import { listShards } from '@shoal/coordinator';
import { RecordLedger, parseRecordId, uniqueName } from '@shoal/local-stack';
import { hashKeyForPartitionKey } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { useSharedRedis } from './support/shared-redis.js';
import { eventually, ledgerProcessor, silentLogger, useLocalStack } from './support/worker-harness.js';

/**
 * A hot key range on kinesalite: a worker consumes a 2-shard stream whose traffic all falls in the
 * lowest eighth of the key space (a quarter of shard 0), counting it in Redis by hash key; the
 * autoscaler (hot-shards) splits shard 0 where that traffic divides, not at its midpoint, and the
 * two children then each get about half of it, while the worker reads on in key order.
 */
const local = useLocalStack();
const WINDOW_MS = 3_000;
/** Partition keys whose hash keys lie in [0, 2^125): the lowest eighth of the key space. */
const HOT_KEYS = Array.from({ length: 4_000 }, (_, index) => `hot-${index}`)
  .filter((key) => hashKeyForPartitionKey(key) < 2n ** 125n)
  .slice(0, 64);

const redis = useSharedRedis();

async function putHot(kinesis: KinesisClient, streamName: string, count: number, prefix: string, ledger?: RecordLedger): Promise<void> {
  for (let start = 0; start < count; start += 500) {
    const entries = Array.from({ length: Math.min(500, count - start) }, (_, index) => {
      const id = `${prefix}-${start + index}`;
      return { id, key: HOT_KEYS[(start + index) % HOT_KEYS.length]! };
    });
    let pending = entries;
    while (pending.length > 0) {
      const { Records = [] } = await kinesis.send(
        new PutRecordsCommand({
          StreamName: streamName,
          Records: pending.map((entry) => ({
            PartitionKey: entry.key,
            Data: Buffer.from(JSON.stringify({ id: entry.id, key: entry.key })),
          })),
        }),
      );
      const failed = pending.filter((_, index) => Records[index]?.ErrorCode !== undefined);
      for (const entry of pending) if (!failed.includes(entry)) ledger?.recordProduced(entry.id, entry.key);
      pending = failed;
    }
  }
}

async function countRecords(kinesis: KinesisClient, streamName: string, shardId: string, prefix: string): Promise<number> {
  let { ShardIterator: iterator } = await kinesis.send(
    new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
  );
  let count = 0;
  for (let calls = 0; iterator && calls < 50; calls += 1) {
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
    count += (page.Records ?? []).filter((record) => parseRecordId(record.Data!).startsWith(prefix)).length;
    if ((page.Records ?? []).length === 0) break;
    iterator = page.NextShardIterator;
  }
  return count;
}

describe('autoscaling a hot key range', () => {
  it('splits the hot shard at its traffic median, and each child gets about half the traffic', { timeout: 90_000 }, async () => {
    expect(HOT_KEYS).toHaveLength(64);
    const stream = await local.createTestStream(2);
    const { streamName, ledger } = stream;
    const kinesis = local.stack().kinesis;
    const traffic = new RedisTrafficStore({ redis: redis(), windowMs: WINDOW_MS, keyPrefix: uniqueName('traffic') });
    const worker = await stream.createWorker({
      trafficSink: traffic,
      trafficFlushIntervalMs: 500,
      processorFactory: ledgerProcessor(ledger),
    });
    void worker.run();
    const [lower, upper] = (await listShards(kinesis, streamName)).sort((a, b) =>
      BigInt(a.hashKeyRange.startingHashKey) < BigInt(b.hashKeyRange.startingHashKey) ? -1 : 1,
    );

    // Two whole windows of about 1,500 records a second, all in a quarter of the lower shard.
    const firstWindow = Math.ceil(Date.now() / WINDOW_MS) * WINDOW_MS;
    await new Promise((resolve) => setTimeout(resolve, firstWindow - Date.now()));
    let sent = 0;
    while (Date.now() < firstWindow + 2 * WINDOW_MS + 300) {
      await putHot(kinesis, streamName, 750, `before-${sent}`, ledger);
      sent += 1;
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    expect(await ledger.waitForAllProcessed(30_000)).toBe(true);
    await eventually(async () => {
      const windows = await traffic.shardMinutes(streamName, firstWindow, firstWindow + 2 * WINDOW_MS);
      return windows.filter((window) => window.shardId === lower!.shardId && window.incomingRecords > 3_000).length === 2;
    }, 'both windows of the hot shard are in Redis');

    const history = new MemoryScalingHistory();
    const autoscaler = new Autoscaler({
      kinesis,
      streamName,
      traffic,
      history,
      rules: resolveScalingRules({ upSustainMinutes: 2, downSustainMinutes: 2 }),
      strategy: 'hot-shards',
      windowMs: WINDOW_MS,
      logger: silentLogger,
      // Plans as of the end of the two windows.
      now: () => firstWindow + 2 * WINDOW_MS + 1,
    });
    const decision = await autoscaler.runOnce();
    expect(decision.strategy).toBe('hot-shards');
    if (decision.strategy !== 'hot-shards') return;
    expect(decision.plan.merges).toEqual([]);
    expect(decision.plan.splits.map((split) => split.shardId)).toEqual([lower!.shardId]);
    const splitAt = BigInt(decision.plan.splits[0]!.newStartingHashKey);
    // Inside the hot quarter, not at the shard's midpoint (2^126).
    expect(splitAt > 0n && splitAt < 2n ** 125n).toBe(true);
    expect(decision.plan.splits[0]!.reasons.join(' ')).toContain('traffic median');
    expect((await history.recent(streamName, 0)).map((event) => [event.kind, event.outcome])).toEqual([['split', 'applied']]);

    const shards = await listShards(kinesis, streamName);
    const children = shards.filter((shard) => shard.parentShardIds.includes(lower!.shardId));
    expect(children).toHaveLength(2);
    expect(shards.find((shard) => shard.shardId === upper!.shardId)?.endingSequenceNumber).toBeUndefined();

    // The same traffic again divides about evenly between the children, and the worker reads on in key order.
    await putHot(kinesis, streamName, 3_000, 'after', ledger);
    const counts = await Promise.all(children.map((child) => countRecords(kinesis, streamName, child.shardId, 'after')));
    expect(counts[0]! + counts[1]!).toBe(3_000);
    for (const count of counts) expect(count / 3_000).toBeGreaterThan(0.4);
    expect(await ledger.waitForAllProcessed(30_000)).toBe(true);
    expect(ledger.summary()).toMatchObject({ lost: 0, duplicates: 0, outOfOrder: 0 });
  });
});
