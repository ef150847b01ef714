import { describe, expect, it } from 'vitest';
import { findStalls } from '../src/index.js';

describe('findStalls', () => {
  it('measures from the later of the last progress and the earliest waiting put', () => {
    const stalls = findStalls(
      [
        { putShard: 'a', putAt: 0, firstAt: 10, firstShard: 'a' },
        { putShard: 'a', putAt: 500, firstAt: 2_000, firstShard: 'a' }, // waits 500 → 2000, shard idle since 10
        { putShard: 'a', putAt: 2_100, firstAt: 2_200, firstShard: 'a' },
      ],
      5_000,
      0,
    );
    expect(stalls[0]).toEqual({ shard: 'a', fromMs: 500, toMs: 2_000, ms: 1_500 });
  });

  it('counts only first processings as progress, per shard', () => {
    const stalls = findStalls(
      [
        { putShard: 'a', putAt: 0, firstAt: 100, firstShard: 'a' },
        { putShard: 'a', putAt: 200, firstAt: 3_000, firstShard: 'a' },
        { putShard: 'b', putAt: 0, firstAt: 1_000, firstShard: 'b' },
      ],
      5_000,
      0,
    );
    expect(stalls.map((stall) => [stall.shard, stall.ms])).toEqual([
      ['a', 2_800],
      ['b', 1_000],
      ['a', 100],
    ]);
  });

  it('runs a never-processed record’s stall to the end, and leaves out short stalls', () => {
    const stalls = findStalls(
      [
        { putShard: 'a', putAt: 0, firstAt: 50, firstShard: 'a' },
        { putShard: 'a', putAt: 1_000, firstAt: undefined, firstShard: undefined },
      ],
      4_000,
      100,
    );
    expect(stalls).toEqual([{ shard: 'a', fromMs: 1_000, toMs: 4_000, ms: 3_000 }]);
  });
});
