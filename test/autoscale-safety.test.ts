import {
  Autoscaler,
  RedisScalingHistory,
  RedisTrafficStore,
  resolveScalingRules,
  type AutoscaleDecision,
  type AutoscalerOptions,
  type ScalingEvent,
  type StreamHold,
} from '@shoal/autoscaler';
import { uniqueName } from '@shoal/local-stack';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeKinesisStream, MAX_HASH_KEY } from '../packages/autoscaler/test/fakes/fake-kinesis-stream.js';
import { silentLogger } from '../packages/autoscaler/test/fakes/silent-logger.js';
import { SteadyTraffic } from '../packages/autoscaler/test/fakes/steady-traffic.js';
import { AutoscaleDuty } from '../packages/runtime/src/worker/autoscale-duty.js';
import { useSharedRedis } from './support/shared-redis.js';
import { eventually } from './support/worker-harness.js';

/**
 * What keeps autoscaling within Kinesis's limits when it shares Redis: the 24-hour call budget
 * and the history every autoscaler of a stream reads, the hold that lets one autoscaler plan a
 * stream at a time, a leader that stops once deposed, and traffic windows read back with only
 * the counts a worker could have written. Kinesis is an in-memory stream here (no emulator has
 * UpdateShardCount and an UPDATING state to race on); Redis is the shared server.
 */
const redis = useSharedRedis();
const KEY_ROOT = uniqueName('autoscale-safety');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 1, 12);

afterEach(async () => {
  const keys = await redis().keys(`${KEY_ROOT}:*`);
  if (keys.length > 0) await redis().del(...keys);
});

const keyPrefix = (what: string) => `${KEY_ROOT}:${uniqueName(what)}`;

function accepted(streamName: string, at: number, kind: ScalingEvent['kind'] = 'update-shard-count'): ScalingEvent {
  return { at, streamName, kind, from: 2, to: 4, reasons: ['an earlier change'], dryRun: false, outcome: 'applied' };
}

function autoscalerOf(stream: FakeKinesisStream, options: Partial<AutoscalerOptions> & Pick<AutoscalerOptions, 'streamName' | 'history'>) {
  return new Autoscaler({
    kinesis: stream.client,
    traffic: new SteadyTraffic(6),
    rules: resolveScalingRules({ upCooldownMinutes: 0 }),
    logger: silentLogger,
    now: () => T0,
    ...options,
  });
}

const targets = (stream: FakeKinesisStream) => stream.calls.map((call) => call.input.TargetShardCount);
const HELD = 'another autoscaler is planning this stream now';

describe('two autoscalers of one stream, each holding it while it plans', () => {
  it('the second holds while the first plans, and together they make no more calls in 24 hours than allowed', async () => {
    const streamName = uniqueName('two-autoscalers');
    const history = new RedisScalingHistory({ redis: redis(), keyPrefix: keyPrefix('history') });
    // 9 of the 10 calls of the last 24 hours were made earlier.
    for (let hours = 9; hours >= 1; hours -= 1) await history.record(accepted(streamName, T0 - hours * HOUR));
    const stream = new FakeKinesisStream(2);
    stream.updatingPolls = 1;
    const hold = (name: string, ttlMs: number) => history.hold(name, ttlMs);
    const first = autoscalerOf(stream, { streamName, history, hold });
    const second = autoscalerOf(stream, { streamName, history, hold });
    let secondWhileFirstPlans: Promise<AutoscaleDecision> | undefined;
    stream.onCall = (name) => {
      if (name === 'UpdateShardCountCommand') secondWhileFirstPlans ??= second.runOnce();
    };

    // 6 shards' worth on 2 would be 2 → 4 → 7; one call is left.
    expect((await first.runOnce()).plan).toMatchObject({ action: 'scale-up', steps: [4] });
    expect((await secondWhileFirstPlans)?.plan).toMatchObject({ action: 'hold', reasons: [HELD] });
    // The stream is free again, and still short of capacity; no call is left.
    const later = await second.runOnce();
    expect(later.plan).toMatchObject({ action: 'hold', steps: [] });
    expect(later.plan.reasons.at(-1)).toMatch(/^but no UpdateShardCount call is left in the rolling 24 hours/);

    expect(stream.calls).toEqual([expect.objectContaining({ name: 'UpdateShardCountCommand', outcome: 'accepted' })]);
    expect(await history.callTimes(streamName, T0 - DAY)).toHaveLength(10);
  });

  it('started at the same moment, only one of them plans', async () => {
    const streamName = uniqueName('two-autoscalers');
    const history = new RedisScalingHistory({ redis: redis(), keyPrefix: keyPrefix('history') });
    const stream = new FakeKinesisStream(2);
    stream.updatingPolls = 1;
    const hold = (name: string, ttlMs: number) => history.hold(name, ttlMs);
    const decisions = await Promise.all([
      autoscalerOf(stream, { streamName, history, hold }).runOnce(),
      autoscalerOf(stream, { streamName, history, hold }).runOnce(),
    ]);
    const plans = decisions.map((decision) => decision.plan);
    expect(plans.filter((plan) => plan.reasons[0] === HELD)).toHaveLength(1);
    expect(plans).toContainEqual(expect.objectContaining({ action: 'scale-up', steps: [4, 7] }));
    expect(stream.calls.map((call) => call.outcome)).toEqual(['accepted', 'accepted']);
    expect(targets(stream)).toEqual([4, 7]);
    expect(await history.callTimes(streamName, T0 - DAY)).toHaveLength(2);
  });
});

describe('RedisScalingHistory.hold', () => {
  it('gives a stream to one holder at a time, until it releases the hold or stops renewing it', async () => {
    const streamName = uniqueName('held');
    const history = new RedisScalingHistory({ redis: redis(), keyPrefix: keyPrefix('history') });
    const first = await history.hold(streamName, 10_000);
    expect(first).toBeDefined();
    expect(await history.hold(streamName, 10_000)).toBeUndefined();
    expect(await first!.renew()).toBe(true);
    await first!.release();

    const lapsing = await history.hold(streamName, 200);
    expect(lapsing).toBeDefined();
    let next: StreamHold | undefined;
    await eventually(async () => (next = await history.hold(streamName, 10_000)) !== undefined, 'the unrenewed hold lapsed', 5_000);
    // The holder that lapsed can neither renew nor release the new holder's hold.
    expect(await lapsing!.renew()).toBe(false);
    await lapsing!.release();
    expect(await history.hold(streamName, 10_000)).toBeUndefined();
    await next!.release();
  });
});

describe('a leader deposed in the middle of a plan', () => {
  it('finishes the step in hand, makes no other, and frees the stream', async () => {
    const streamName = uniqueName('deposed');
    const history = new RedisScalingHistory({ redis: redis(), keyPrefix: keyPrefix('history') });
    const stream = new FakeKinesisStream(2);
    stream.updatingPolls = 1;
    let leading = true;
    // Another worker is elected as soon as the first UpdateShardCount is sent.
    stream.onCall = (name) => {
      if (name === 'UpdateShardCountCommand') leading = false;
    };
    const duty = new AutoscaleDuty({
      autoscale: { intervalMs: 10 },
      kinesis: stream.client,
      // 6 shards' worth on 2: 2 → 4 → 7.
      traffic: new SteadyTraffic(6),
      history,
      hold: (name, ttlMs) => history.hold(name, ttlMs),
      streamNames: () => [streamName],
      isLeading: () => leading,
      logger: silentLogger,
    });
    duty.start();
    try {
      await eventually(() => stream.calls.length > 0, 'the leader sent its first step');
      let next: StreamHold | undefined;
      await eventually(async () => (next = await history.hold(streamName, 10_000)) !== undefined, 'the deposed leader freed the stream');
      await next!.release();
    } finally {
      await duty.stop();
    }
    expect(targets(stream)).toEqual([4]);
    expect(await history.recent(streamName, 0)).toMatchObject([{ kind: 'update-shard-count', to: 4, outcome: 'applied' }]);
  });
});

describe('the scaling history in Redis', () => {
  it('counts as calls only the UpdateShardCount calls Kinesis accepted, in the period asked for', async () => {
    const streamName = uniqueName('budget');
    const history = new RedisScalingHistory({ redis: redis(), keyPrefix: keyPrefix('history') });
    const events: ScalingEvent[] = [
      accepted(streamName, T0 - 25 * HOUR),
      { ...accepted(streamName, T0 - 5 * HOUR), outcome: 'dry-run', dryRun: true },
      { ...accepted(streamName, T0 - 4 * HOUR), outcome: 'failed', error: 'TimeoutError: no answer' },
      { ...accepted(streamName, T0 - 3 * HOUR), outcome: 'refused', error: 'ResourceInUseException: UPDATING' },
      { ...accepted(streamName, T0 - 2 * HOUR), outcome: 'pending' },
      accepted(streamName, T0 - HOUR),
      accepted(streamName, T0 - 30 * MINUTE, 'split'),
    ];
    for (const event of events) await history.record(event);
    expect(await history.callTimes(streamName, T0 - DAY)).toEqual([T0 - 2 * HOUR, T0 - HOUR]);
    expect(await history.lastChangeAt(streamName)).toBe(T0 - 30 * MINUTE);
  });

  it('still counts the calls of the last 24 hours after more events than it keeps', async () => {
    const streamName = uniqueName('evicted');
    const history = new RedisScalingHistory({ redis: redis(), keyPrefix: keyPrefix('history'), limit: 20 });
    // A live autoscaler spent all 10 calls this morning.
    for (let index = 10; index >= 1; index -= 1) await history.record(accepted(streamName, T0 - index * 30 * MINUTE));
    // A dry-run autoscaler of the same stream with other rules records 5 planned steps a minute.
    const stream = new FakeKinesisStream(2);
    let now = T0;
    const dryRun = autoscalerOf(stream, {
      streamName,
      history,
      traffic: new SteadyTraffic(40),
      rules: resolveScalingRules({ maxCallsPer24Hours: 20, maxShards: 64 }),
      dryRun: true,
      now: () => now,
    });
    for (let cycle = 0; cycle < 10; cycle += 1) {
      await dryRun.runOnce();
      now += MINUTE;
    }
    expect((await history.recent(streamName, 0)).every((event) => event.outcome === 'dry-run')).toBe(true);

    const live = autoscalerOf(stream, { streamName, history, traffic: new SteadyTraffic(40), now: () => now });
    const decision = await live.runOnce();
    expect(decision.plan).toMatchObject({ action: 'hold', steps: [] });
    expect(decision.plan.reasons.at(-1)).toMatch(/^but no UpdateShardCount call is left in the rolling 24 hours/);
    expect(stream.calls).toEqual([]);
  });

  it('lets every key it writes expire', async () => {
    const streamName = uniqueName('expiring');
    const prefix = keyPrefix('history');
    const history = new RedisScalingHistory({ redis: redis(), keyPrefix: prefix });
    await history.record(accepted(streamName, Date.now()));
    const keys = await redis().keys(`${prefix}:*`);
    expect(keys.map((key) => key.slice(key.lastIndexOf(':') + 1)).sort()).toEqual(['calls', 'changed', 'history']);
    for (const key of keys) {
      const ttl = await redis().pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(7 * DAY);
    }
  });
});

describe('traffic fields in Redis that no worker writes', () => {
  it('are left out when the windows are read back, and the hot shard is split where its real traffic divides', async () => {
    const streamName = uniqueName('forged');
    const prefix = keyPrefix('traffic');
    const store = new RedisTrafficStore({ redis: redis(), keyPrefix: prefix });
    const minute = T0 - MINUTE;
    // 1,200 records/s on the stream's only shard, spread evenly over its 64 bins.
    await store.add(streamName, 'orders-app', [
      {
        shardId: 'shardId-000000000000',
        minute,
        incomingBytes: 72_000 * 100,
        incomingRecords: 72_000,
        outgoingBytes: 0,
        outgoingRecords: 0,
        throttledPuts: 0,
        hashKeyBins: Array.from({ length: 64 }, () => 72_000 / 64),
      },
    ]);
    // Anyone who can write to the store (every worker and producer can) writes what no worker would.
    const field = (application: string, name: string) => `shardId-000000000000|${application}|${name}`;
    await redis().hset(`${prefix}:{${streamName}}:${minute}`, {
      [field('orders-app', 'h7')]: '1e400',
      [field('orders-app', 'h63')]: '-70000',
      [field('orders-app', 'h64')]: '5',
      [field('forger', 'incomingRecords')]: '9e99',
      [field('forger', 'incomingBytes')]: 'NaN',
    });

    const [read] = await store.shardMinutes(streamName, minute, T0);
    expect(read).toMatchObject({ incomingRecords: 72_000, incomingBytes: 72_000 * 100 });
    expect(read!.hashKeyBins).toHaveLength(64);
    expect(read!.hashKeyBins.filter((count) => count === 72_000 / 64)).toHaveLength(62);
    expect([read!.hashKeyBins[7], read!.hashKeyBins[63]]).toEqual([0, 0]);

    const decision = await autoscalerOf(new FakeKinesisStream(1), {
      streamName,
      history: new RedisScalingHistory({ redis: redis(), keyPrefix: keyPrefix('history') }),
      traffic: store,
      rules: resolveScalingRules(),
      strategy: 'hot-shards',
      dryRun: true,
      now: () => T0 + 1_000,
    }).runOnce();
    if (decision.strategy !== 'hot-shards') throw new Error('a hot-shards decision was expected');
    expect(decision.plan.splits).toHaveLength(1);
    const at = BigInt(decision.plan.splits[0]!.newStartingHashKey);
    expect(at > MAX_HASH_KEY / 4n && at < (3n * MAX_HASH_KEY) / 4n).toBe(true);
  });
});
