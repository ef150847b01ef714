import { describe, expect, it } from 'vitest';
import { HASH_KEY_BINS, planHotShards, resolveScalingRules, type ShardLoad } from '../src/index.js';
import { MAX_HASH_KEY } from './fakes/fake-kinesis-stream.js';

const NOW = Date.UTC(2026, 5, 1, 12);
const rules = resolveScalingRules();

/** One shard over the whole key space that took 950 records/s in the last minute, counted into `bins`. */
function hotShard(bins: readonly number[]): ShardLoad {
  return {
    shardId: 'shardId-000000000002',
    startingHashKey: 0n,
    endingHashKey: MAX_HASH_KEY,
    windows: [
      {
        shardId: 'shardId-000000000002',
        minute: NOW - 60_000,
        incomingBytes: 57_000 * 100,
        incomingRecords: 57_000,
        outgoingBytes: 0,
        outgoingRecords: 0,
        throttledPuts: 0,
        hashKeyBins: bins,
      },
    ],
  };
}

const spread = Array.from({ length: HASH_KEY_BINS }, () => 57_000 / HASH_KEY_BINS);
const oneKey = Array.from({ length: HASH_KEY_BINS }, (_, bin) => (bin === 17 ? 57_000 : 0));
const recentlySplit = new Set(['shardId-000000000002']);

describe('planHotShards and hot keys', () => {
  it('splits a hot shard at its traffic median even when the traffic sits in one bin', () => {
    expect(planHotShards([hotShard(oneKey)], rules).splits).toHaveLength(1);
  });

  it('does not split again a shard made by a recent split whose traffic sits in one bin (a hot key)', () => {
    const plan = planHotShards([hotShard(oneKey)], rules, { recentlySplit });
    expect(plan.splits).toEqual([]);
    expect(plan.reasons[0]).toContain('shardId-000000000002 is still hot after its parent was split, with 100 % of its traffic');
    expect(plan.reasons[0]).toContain('a hot key, not split again');
  });

  it('splits again a shard made by a recent split whose traffic is spread over its range', () => {
    const plan = planHotShards([hotShard(spread)], rules, { recentlySplit });
    expect(plan.splits.map((split) => split.shardId)).toEqual(['shardId-000000000002']);
  });
});
