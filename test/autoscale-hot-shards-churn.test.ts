import {
  Autoscaler,
  HASH_KEY_BINS,
  MemoryScalingHistory,
  hashKeyBin,
  resolveScalingRules,
  type ShardTrafficMinute,
  type TrafficSource,
} from '@shoal/autoscaler';
import { listShards, type ShardInfo } from '@shoal/coordinator';
import { hashKeyForPartitionKey } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { silentLogger, useLocalStack } from './support/worker-harness.js';

/**
 * The hot-shards strategy cycle after cycle on kinesalite, against a model of the stream's
 * traffic that follows its splits and merges: a new shard is measured only from the moment it
 * opened, so the windows around a split are partial, as the workers' would be.
 */
const local = useLocalStack();
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 5, 1, 12);
const KEY_SPACE = 2n ** 128n;

/** Of the stream's traffic, the share that falls in a hash key range, and how it spreads over the range's bins. */
type TrafficShare = (start: bigint, end: bigint) => { fraction: number; bins: number[] };

interface ShardLife {
  readonly start: bigint;
  readonly end: bigint;
  readonly openedAt: number;
  closedAt?: number;
}

/**
 * A stream's traffic at a steady rate, counted as Shoal's workers count it: per shard, by the
 * minute, for the part of each minute the shard was open, with its share of the traffic by
 * hash key.
 */
class ModelTraffic implements TrafficSource {
  private readonly lives = new Map<string, ShardLife>();

  constructor(
    private readonly recordsPerSecond: number,
    private readonly share: TrafficShare,
  ) {}

  /** Notes the shards opened and closed as of `now`; the shards seen first have always been open. */
  observe(shards: readonly ShardInfo[], now: number): void {
    const first = this.lives.size === 0;
    for (const shard of shards) {
      const life = this.lives.get(shard.shardId);
      if (!life) {
        this.lives.set(shard.shardId, {
          start: BigInt(shard.hashKeyRange.startingHashKey),
          end: BigInt(shard.hashKeyRange.endingHashKey),
          openedAt: first ? Number.NEGATIVE_INFINITY : now,
          ...(shard.endingSequenceNumber === undefined ? {} : { closedAt: now }),
        });
      } else if (shard.endingSequenceNumber !== undefined && life.closedAt === undefined) {
        life.closedAt = now;
      }
    }
  }

  async shardMinutes(_streamName: string, from: number, to: number): Promise<ShardTrafficMinute[]> {
    const minutes: ShardTrafficMinute[] = [];
    for (let minute = from; minute < to; minute += MINUTE) {
      for (const [shardId, life] of this.lives) {
        const openMs = Math.min(minute + MINUTE, life.closedAt ?? Number.POSITIVE_INFINITY) - Math.max(minute, life.openedAt);
        if (openMs <= 0) continue;
        const { fraction, bins } = this.share(life.start, life.end);
        const records = Math.round(this.recordsPerSecond * fraction * (openMs / 1_000));
        minutes.push({
          shardId,
          minute,
          incomingBytes: records * 100,
          incomingRecords: records,
          outgoingBytes: records * 100,
          outgoingRecords: records,
          throttledPuts: 0,
          hashKeyBins: bins.map((part) => Math.round(part * records)),
        });
      }
    }
    return minutes;
  }
}

const evenlySpread: TrafficShare = (start, end) => ({
  fraction: Number(((end - start + 1n) * 1_000_000n) / KEY_SPACE) / 1_000_000,
  bins: Array.from({ length: HASH_KEY_BINS }, () => 1 / HASH_KEY_BINS),
});

function oneKey(partitionKey: string): TrafficShare {
  const hashKey = hashKeyForPartitionKey(partitionKey);
  return (start, end) => {
    const inside = start <= hashKey && hashKey <= end;
    const bins = new Array<number>(HASH_KEY_BINS).fill(0);
    if (inside) bins[hashKeyBin(hashKey, start, end)] = 1;
    return { fraction: inside ? 1 : 0, bins };
  };
}

/** Plans `cycles` times a minute apart, `phaseMs` into each minute; returns what was split and merged, and the open shards. */
async function runCycles(streamName: string, traffic: ModelTraffic, cycles: number, phaseMs: number) {
  const kinesis = local.stack().kinesis;
  let now = T0 + phaseMs;
  traffic.observe(await listShards(kinesis, streamName), now);
  const autoscaler = new Autoscaler({
    kinesis,
    streamName,
    traffic,
    history: new MemoryScalingHistory(),
    rules: resolveScalingRules({ maxShards: 16 }),
    strategy: 'hot-shards',
    logger: silentLogger,
    now: () => now,
  });
  const changes: string[] = [];
  for (let cycle = 0; cycle < cycles; cycle += 1) {
    const decision = await autoscaler.runOnce();
    if (decision.strategy !== 'hot-shards') throw new Error('a hot-shards decision was expected');
    for (const split of decision.plan.splits) changes.push(`${cycle}: split ${split.shardId}`);
    for (const merge of decision.plan.merges) changes.push(`${cycle}: merge ${merge.shardId} and ${merge.adjacentShardId}`);
    traffic.observe(await listShards(kinesis, streamName), now);
    now += MINUTE;
  }
  const open = (await listShards(kinesis, streamName)).filter((shard) => shard.endingSequenceNumber === undefined);
  return { changes, open: open.length };
}

describe('hot-shards under steady traffic', () => {
  it('splits a shard hot with evenly spread traffic once, and keeps both children', async () => {
    const stream = await local.createTestStream(1);
    // 900 records/s: 90 % of one shard, above the 88 % up threshold; each child then takes 45 %.
    const { changes, open } = await runCycles(stream.streamName, new ModelTraffic(900, evenlySpread), 10, 30_000);
    expect({ changes, open }).toEqual({ changes: ['0: split shardId-000000000000'], open: 2 });
  });

  it('splits a shard hot with one partition key once, and not the child that gets the key', async () => {
    const stream = await local.createTestStream(1);
    // Planned a second into each minute, so a new child's first window is almost a whole minute of 95 %.
    const { changes, open } = await runCycles(stream.streamName, new ModelTraffic(950, oneKey('the-one-hot-device')), 12, 1_000);
    expect({ changes, open }).toEqual({ changes: ['0: split shardId-000000000000'], open: 2 });
  });
});
