import { describe, expect, it } from 'vitest';
import {
  HASH_KEY_BINS,
  planHotShards,
  planScaling,
  resolveScalingRules,
  streamMinutes,
  type ShardLoad,
  type ShardTrafficMinute,
  type TrafficMinute,
} from '../src/index.js';
import { MAX_HASH_KEY } from './fakes/fake-kinesis-stream.js';

/** A window nobody measured (no worker read the stream, Redis was away) is not a quiet window. */
const MINUTE = 60_000;
const NOW = Date.UTC(2026, 5, 1, 12);
const rules = resolveScalingRules();

function shardMinute(shardId: string, minute: number, incomingRecords: number): ShardTrafficMinute {
  return {
    shardId,
    minute,
    incomingBytes: incomingRecords * 100,
    incomingRecords,
    outgoingBytes: 0,
    outgoingRecords: 0,
    throttledPuts: 0,
    hashKeyBins: [],
  };
}

/** Ten minutes ending before NOW, each needing one shard by write bytes; `unmeasured` ones not measured. */
function oneShardOfTraffic(unmeasured: readonly number[] = []): TrafficMinute[] {
  return Array.from({ length: 10 }, (_, index) => ({
    at: NOW - (10 - index) * MINUTE,
    incomingBytes: unmeasured.includes(index) ? 0 : 60 * 1_048_576,
    incomingRecords: unmeasured.includes(index) ? 0 : 60,
    ...(unmeasured.includes(index) ? { measured: false } : {}),
  }));
}

describe('windows nobody measured', () => {
  it('are marked unmeasured by streamMinutes, while a measured window without traffic is not', () => {
    const from = NOW - 3 * MINUTE;
    const minutes = streamMinutes([shardMinute('shardId-000000000000', NOW - 2 * MINUTE, 0)], from, NOW);
    expect(minutes.map((minute) => minute.measured)).toEqual([false, undefined, false]);
  });

  it('never drive a scale-down, even when the measured ones are all quiet', () => {
    const plan = (traffic: TrafficMinute[]) => planScaling({ now: NOW, openShards: 8, traffic, callTimes: [], rules });
    expect(plan(oneShardOfTraffic())).toMatchObject({ action: 'scale-down', steps: [4, 2] });
    expect(plan(oneShardOfTraffic([4]))).toMatchObject({ action: 'hold', steps: [] });
    expect(plan(oneShardOfTraffic([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))).toMatchObject({
      action: 'hold',
      reasons: ['no traffic measured yet'],
    });
  });

  it('never make two adjacent shards look cold enough to merge', () => {
    const half = (MAX_HASH_KEY + 1n) / 2n;
    const load = (shardId: string, start: bigint, end: bigint, measured: boolean): ShardLoad => ({
      shardId,
      startingHashKey: start,
      endingHashKey: end,
      windows: Array.from({ length: rules.downSustainMinutes }, (_, index) => ({
        ...shardMinute(shardId, NOW - (rules.downSustainMinutes - index) * MINUTE, measured ? 6_000 : 0),
        hashKeyBins: new Array<number>(HASH_KEY_BINS).fill(0),
        ...(measured ? {} : { measured: false }),
      })),
    });
    const measuredPair = [load('shardId-a', 0n, half - 1n, true), load('shardId-b', half, MAX_HASH_KEY, true)];
    expect(planHotShards(measuredPair, rules).merges).toHaveLength(1);
    const oneUnmeasured = [load('shardId-a', 0n, half - 1n, true), load('shardId-b', half, MAX_HASH_KEY, false)];
    expect(planHotShards(oneUnmeasured, rules)).toMatchObject({ splits: [], merges: [] });
  });
});
