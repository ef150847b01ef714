import { RedisScalingHistory, RedisTrafficStore, minuteOf, type ScalingEvent } from '@shoal/autoscaler';
import { uniqueName } from '@shoal/local-stack';
import { resolveWorkerOptions, type WorkerOptions } from '@shoal/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { shoalInProcess } from './support/run-cli.js';
import { SHARED_REDIS_URL, useSharedRedis } from './support/shared-redis.js';
import { useLocalStack } from './support/worker-harness.js';

/**
 * The scaling rules as operators give them: `shoal autoscale` flags (each one changes the plan
 * it names) and the workers' `autoscale.rules`. The command plans once, in a dry run, for a
 * stream on kinesalite, from windows and history written to Redis under its defaults.
 */
const local = useLocalStack();
const redis = useSharedRedis();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const streams: string[] = [];

afterEach(async () => {
  for (const streamName of streams.splice(0)) {
    const keys = [...(await redis().keys(`shoal:traffic:{${streamName}}:*`)), ...(await redis().keys(`shoal:autoscale:{${streamName}}:*`))];
    if (keys.length > 0) await redis().del(...keys);
  }
});

/** A stream of `shardCount` shards, written `shardsWorth` shards' worth of bytes in each of the last minutes. */
async function streamWithTraffic(shardCount: number, shardsWorth: number): Promise<string> {
  const streamName = uniqueName('autoscale-rules');
  streams.push(streamName);
  await local.stack().createStream(streamName, shardCount);
  const store = new RedisTrafficStore({ redis: redis() });
  const minute = minuteOf(Date.now());
  // This minute too, so the last whole minute has traffic even if a minute turns during the test.
  for (const at of [minute - 3 * MINUTE, minute - 2 * MINUTE, minute - MINUTE, minute]) {
    await store.add(streamName, 'producer', [
      {
        shardId: 'shardId-000000000000',
        minute: at,
        incomingBytes: shardsWorth * 60 * 1_048_576,
        incomingRecords: 60,
        outgoingBytes: 0,
        outgoingRecords: 0,
        throttledPuts: 0,
        hashKeyBins: [],
      },
    ]);
  }
  return streamName;
}

/** Records accepted UpdateShardCount calls `agesMs` ago in the stream's history. */
async function earlierCalls(streamName: string, agesMs: readonly number[]): Promise<void> {
  const history = new RedisScalingHistory({ redis: redis() });
  for (const ageMs of [...agesMs].sort((a, b) => b - a)) {
    const event: ScalingEvent = {
      at: Date.now() - ageMs,
      streamName,
      kind: 'update-shard-count',
      from: 1,
      to: 2,
      reasons: ['an earlier change'],
      dryRun: false,
      outcome: 'applied',
    };
    await history.record(event);
  }
}

/** `shoal autoscale --once --dry-run --json` for the stream with `flags`: the plan, or the run that failed. */
async function plan(streamName: string, ...flags: string[]) {
  const result = await shoalInProcess([
    'autoscale',
    '--stream',
    streamName,
    '--redis',
    SHARED_REDIS_URL,
    '--kinesis-endpoint',
    local.stack().endpoints.kinesisEndpoint,
    '--once',
    '--dry-run',
    '--json',
    ...flags,
  ]);
  return {
    ...result,
    plan: () => {
      expect(result.code, result.stderr).toBe(0);
      return (JSON.parse(result.stdout) as { plan: { action: string; steps: number[]; reasons: string[] } }).plan;
    },
  };
}

describe('shoal autoscale rule flags', () => {
  it('--up-cooldown sets how long a scale-up waits after the last change', async () => {
    // 150 % of 2 shards, 2 minutes after a change.
    const streamName = await streamWithTraffic(2, 3);
    await earlierCalls(streamName, [2 * MINUTE]);
    const waiting = (await plan(streamName)).plan();
    expect(waiting).toMatchObject({ action: 'hold' });
    expect(waiting.reasons.at(-1)).toContain('within upCooldownMinutes (5)');
    expect((await plan(streamName, '--up-cooldown', '1')).plan()).toMatchObject({ action: 'scale-up', steps: [4] });
  });

  it('--min-step sets the smallest step up', async () => {
    // 90 % of 2 shards: 1.8 × 1.15 → 3 shards, or at least 2 × 1.9 with --min-step 90%.
    const streamName = await streamWithTraffic(2, 1.8);
    expect((await plan(streamName)).plan()).toMatchObject({ action: 'scale-up', steps: [3] });
    expect((await plan(streamName, '--min-step', '90%')).plan()).toMatchObject({ action: 'scale-up', steps: [4] });
  });

  it('--calls-reserved-for-up sets how many calls of the 24 hours scaling down leaves', async () => {
    // 12 % of 4 shards, with 9 of the 10 calls of the last 24 hours spent.
    const streamName = await streamWithTraffic(4, 0.5);
    await earlierCalls(
      streamName,
      Array.from({ length: 9 }, (_, index) => (index + 2) * HOUR),
    );
    const quick = ['--down-windows', '1', '--down-cooldown', '0'];
    const reserved = (await plan(streamName, ...quick)).plan();
    expect(reserved).toMatchObject({ action: 'hold' });
    expect(reserved.reasons.at(-1)).toContain('1 kept for scaling up');
    expect((await plan(streamName, ...quick, '--calls-reserved-for-up', '0')).plan()).toMatchObject({ action: 'scale-down', steps: [2] });
  });

  it('--calls-per-day 1 leaves the one call to the planner, and refuses a reserve that would keep it back', async () => {
    const streamName = await streamWithTraffic(2, 3);
    expect((await plan(streamName, '--calls-per-day', '1')).plan()).toMatchObject({ action: 'scale-up', steps: [4] });
    const refused = await plan(streamName, '--calls-per-day', '1', '--calls-reserved-for-up', '1');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('callsReservedForUp: must be below maxCallsPer24Hours (1); got 1');
  });
});

describe('the workers’ autoscale rules', () => {
  const options = (rules: Record<string, unknown>) =>
    ({
      applicationName: 'app',
      streamName: 'orders',
      processorFactory: () => ({ processRecords: async () => {} }),
      redis: { url: SHARED_REDIS_URL },
      nats: { servers: 'nats://127.0.0.1:4222' },
      autoscale: { rules },
    }) as unknown as WorkerOptions;

  it('refuse a misspelt rule instead of running with the default', () => {
    expect(() => resolveWorkerOptions(options({ upTreshold: 0.5 }))).toThrow(/autoscale\.rules.*upTreshold: is not a scaling rule/s);
  });

  it('refuse a switch given as a number', () => {
    expect(() => resolveWorkerOptions(options({ enabled: 0 }))).toThrow(/enabled: must be true or false; got 0/);
  });
});
