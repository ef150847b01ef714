import { describe, expect, it } from 'vitest';
import { Autoscaler, MemoryScalingHistory, resolveScalingRules, ScalingStepError, type AutoscalerOptions } from '../src/index.js';
import { FakeKinesisStream } from './fakes/fake-kinesis-stream.js';
import { silentLogger } from './fakes/silent-logger.js';
import { SteadyTraffic } from './fakes/steady-traffic.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const T0 = Date.UTC(2026, 5, 1, 12);
const STREAM = 'orders';

function autoscalerOf(stream: FakeKinesisStream, options: Partial<AutoscalerOptions> = {}): Autoscaler {
  return new Autoscaler({
    kinesis: stream.client,
    streamName: STREAM,
    traffic: new SteadyTraffic(1),
    history: new MemoryScalingHistory(),
    rules: resolveScalingRules(),
    logger: silentLogger,
    now: () => T0,
    ...options,
  });
}

const targets = (stream: FakeKinesisStream) => stream.calls.map((call) => call.input.TargetShardCount);

describe('Autoscaler', () => {
  it.each(['uniform', 'hot-shards'] as const)(
    'holds a stream whose traffic nobody measured (%s) instead of shrinking it to minShards',
    async (strategy) => {
      const stream = new FakeKinesisStream(8);
      const decision = await autoscalerOf(stream, { strategy, traffic: { shardMinutes: async () => [] } }).runOnce();
      if (decision.strategy === 'uniform') {
        expect(decision.plan).toMatchObject({ action: 'hold', steps: [], reasons: ['no traffic measured yet'] });
      } else {
        expect(decision.plan).toMatchObject({ splits: [], merges: [] });
      }
      expect(stream.calls).toEqual([]);
      expect(stream.openShards()).toHaveLength(8);
    },
  );

  it('holds without touching the stream while another autoscaler holds it', async () => {
    const stream = new FakeKinesisStream(2);
    const decision = await autoscalerOf(stream, { traffic: new SteadyTraffic(6), hold: async () => undefined }).runOnce();
    expect(decision.plan).toMatchObject({ action: 'hold', reasons: ['another autoscaler is planning this stream now'] });
    expect(stream.calls).toEqual([]);
  });

  it('stops between steps once it is told not to go on (a deposed leader)', async () => {
    const stream = new FakeKinesisStream(2);
    let leading = true;
    stream.onCall = (name) => {
      if (name === 'UpdateShardCountCommand') leading = false;
    };
    // 6 shards' worth on 2: 2 → 4 → 7.
    const decision = await autoscalerOf(stream, { traffic: new SteadyTraffic(6) }).runOnce(() => leading);
    expect(decision.plan).toMatchObject({ action: 'scale-up', steps: [4, 7] });
    expect(targets(stream)).toEqual([4]);
  });

  it('records a change Kinesis refused as refused, and counts it neither as a call nor as a change', async () => {
    const stream = new FakeKinesisStream(2);
    // Another client starts a change between the autoscaler's look at the stream and its call.
    stream.onCall = (name) => {
      if (name === 'ListShardsCommand') stream.startForeignUpdate();
    };
    const history = new MemoryScalingHistory();
    const failure = await autoscalerOf(stream, { traffic: new SteadyTraffic(2.5), history })
      .runOnce()
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: 'ResourceInUseException' });
    expect(stream.calls).toMatchObject([{ name: 'UpdateShardCountCommand', outcome: 'ResourceInUseException' }]);
    expect(await history.recent(STREAM, 0)).toMatchObject([
      { kind: 'update-shard-count', outcome: 'refused', error: expect.stringContaining('ResourceInUseException') },
    ]);
    expect(await history.callTimes(STREAM, T0 - DAY)).toEqual([]);
    expect(await history.lastChangeAt(STREAM)).toBeUndefined();
  });

  it('counts a change that stays UPDATING past the wait as one call, and makes no other until the stream is ACTIVE', async () => {
    let now = T0;
    const stream = new FakeKinesisStream(2);
    stream.clock = () => now;
    stream.updatingMs = 20 * MINUTE;
    // Each DescribeStreamSummary stands for five minutes of waiting: the executor's 300 s wait for
    // ACTIVE runs out at its first poll.
    stream.onCall = (name) => {
      if (name === 'DescribeStreamSummaryCommand') now += 5 * MINUTE + 1;
    };
    const traffic = new SteadyTraffic(2.5);
    const history = new MemoryScalingHistory();
    const autoscaler = autoscalerOf(stream, { traffic, history, now: () => now });

    // 125 % of 2 shards: up to 3, accepted, still UPDATING when the wait ends.
    const failure = await autoscaler.runOnce().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ScalingStepError);
    expect(await history.recent(STREAM, 0)).toMatchObject([{ kind: 'update-shard-count', to: 3, outcome: 'pending' }]);

    const decisions = [];
    for (let cycle = 0; cycle < 10 && stream.openShards().length === 2; cycle += 1) {
      decisions.push(await autoscaler.runOnce());
      now += MINUTE;
    }
    expect(stream.openShards()).toHaveLength(3);
    expect(decisions.map((decision) => decision.strategy === 'uniform' && decision.plan.action)).toEqual(decisions.map(() => 'hold'));
    expect(stream.calls).toEqual([expect.objectContaining({ outcome: 'accepted' })]);

    // Later the traffic grows to 117 % of 3 shards: one accepted call so far, so the next is allowed.
    traffic.shardsWorth = 3.5;
    stream.updatingMs = 0;
    const decision = await autoscaler.runOnce();
    expect(decision.plan).toMatchObject({ action: 'scale-up', steps: [5] });
    expect((await history.recent(STREAM, 0)).map((event) => event.outcome)).toEqual(['applied', 'pending']);
    expect(await history.callTimes(STREAM, now - DAY)).toHaveLength(2);
    expect(targets(stream)).toEqual([3, 5]);
  });
});
