import { createHash } from 'node:crypto';
import type { Shard } from '@aws-sdk/client-kinesis';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import {
  MAX_HASH_KEY,
  evenHashKeyRanges,
  findShardForHashKey,
  findShardForPartitionKey,
  hashKeyForPartitionKey,
  hashKeyForRecord,
  hashKeyInRange,
  hashKeyRangeMidpoint,
  parseHashKey,
  parseHashKeyRange,
  type HashKeyRange,
} from '../src/hash-key.js';

const md5AsBigInt = (text: string): bigint => BigInt(`0x${createHash('md5').update(Buffer.from(text, 'utf8')).digest('hex')}`);

const toShard = (range: HashKeyRange, index: number): Shard => ({
  ShardId: `shardId-${String(index).padStart(12, '0')}`,
  HashKeyRange: { StartingHashKey: range.startingHashKey.toString(), EndingHashKey: range.endingHashKey.toString() },
  SequenceNumberRange: { StartingSequenceNumber: '1' },
});

const expectInvalid = (run: () => unknown, message: RegExp | string): void => {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidArgumentError);
  expect((caught as InvalidArgumentError).code).toBe('INVALID_ARGUMENT');
  expect((caught as Error).message).toMatch(message);
};

const anyHashKey = fc.bigInt({ min: 0n, max: MAX_HASH_KEY });
const anyRange = fc
  .tuple(anyHashKey, anyHashKey)
  .map(([a, b]): HashKeyRange => ({ startingHashKey: a < b ? a : b, endingHashKey: a < b ? b : a }));

describe('MAX_HASH_KEY', () => {
  it('is 2^128 - 1', () => {
    expect(MAX_HASH_KEY).toBe(340282366920938463463374607431768211455n);
  });
});

describe('hashKeyForPartitionKey', () => {
  it('matches the RFC 1321 vector for "abc"', () => {
    // MD5("abc") = 900150983cd24fb0d6963f7d28e17f72
    expect(hashKeyForPartitionKey('abc')).toBe(191415658344158766168031473277922803570n);
  });

  it('is the MD5 of the UTF-8 bytes read as an unsigned big-endian integer', () => {
    for (const key of ['user-42', 'ключ-🐟', 'a'.repeat(256)]) {
      expect(hashKeyForPartitionKey(key)).toBe(md5AsBigInt(key));
    }
  });

  it('stays within [0, MAX_HASH_KEY]', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 256 }), (key) => {
        const hashKey = hashKeyForPartitionKey(key);
        expect(hashKey).toBeGreaterThanOrEqual(0n);
        expect(hashKey).toBeLessThanOrEqual(MAX_HASH_KEY);
      }),
    );
  });

  it('rejects empty keys and keys longer than 256 characters', () => {
    expectInvalid(() => hashKeyForPartitionKey(''), /partitionKey must be a non-empty string, got ""/);
    expectInvalid(() => hashKeyForPartitionKey('k'.repeat(257)), /at most 256 characters, got 257 characters: "kkk/);
  });
});

describe('parseHashKey', () => {
  it('parses decimal strings across the whole space', () => {
    expect(parseHashKey('0')).toBe(0n);
    expect(parseHashKey('170141183460469231731687303715884105728')).toBe(2n ** 127n);
    expect(parseHashKey(MAX_HASH_KEY.toString())).toBe(MAX_HASH_KEY);
  });

  it('round-trips every key', () => {
    fc.assert(fc.property(anyHashKey, (key) => parseHashKey(key.toString()) === key));
  });

  it('rejects values that are not decimal integers, naming them', () => {
    for (const bad of ['', '-1', '+1', '1.5', ' 1', '1 ', '0x10', '1e3', 'abc', '１']) {
      expectInvalid(() => parseHashKey(bad), `hash key must be a decimal integer string, got ${JSON.stringify(bad)}`);
    }
  });

  it('rejects values above 2^128 - 1, naming them', () => {
    const tooBig = (MAX_HASH_KEY + 1n).toString();
    expectInvalid(() => parseHashKey(tooBig), `got ${tooBig}`);
  });
});

describe('parseHashKeyRange', () => {
  it('converts the AWS SDK shape', () => {
    expect(parseHashKeyRange({ StartingHashKey: '0', EndingHashKey: MAX_HASH_KEY.toString() })).toEqual({
      startingHashKey: 0n,
      endingHashKey: MAX_HASH_KEY,
    });
    expect(parseHashKeyRange({ StartingHashKey: '7', EndingHashKey: '7' })).toEqual({
      startingHashKey: 7n,
      endingHashKey: 7n,
    });
  });

  it('rejects missing or malformed bounds, naming the field', () => {
    expectInvalid(() => parseHashKeyRange({ StartingHashKey: '0' }), /EndingHashKey must be .* got undefined/);
    expectInvalid(() => parseHashKeyRange({ StartingHashKey: 'x', EndingHashKey: '1' }), /StartingHashKey must be .* got "x"/);
    expectInvalid(
      () => parseHashKeyRange({ StartingHashKey: '0', EndingHashKey: (MAX_HASH_KEY + 1n).toString() }),
      /EndingHashKey must be at most/,
    );
  });

  it('rejects a range that ends before it starts', () => {
    expectInvalid(() => parseHashKeyRange({ StartingHashKey: '10', EndingHashKey: '9' }), '[10, 9]');
  });
});

describe('hashKeyInRange', () => {
  it('is inclusive at both ends', () => {
    const range = { startingHashKey: 10n, endingHashKey: 20n };
    expect([9n, 10n, 15n, 20n, 21n].map((key) => hashKeyInRange(key, range))).toEqual([false, true, true, true, false]);
  });
});

describe('hashKeyForRecord', () => {
  it('uses the explicit hash key when present', () => {
    expect(hashKeyForRecord({ partitionKey: 'abc', explicitHashKey: '42' })).toBe(42n);
  });

  it('falls back to the MD5 of the partition key', () => {
    expect(hashKeyForRecord({ partitionKey: 'abc' })).toBe(md5AsBigInt('abc'));
    expect(hashKeyForRecord({ partitionKey: 'abc', explicitHashKey: undefined })).toBe(md5AsBigInt('abc'));
  });

  it('rejects a malformed explicit hash key, naming it', () => {
    expectInvalid(() => hashKeyForRecord({ partitionKey: 'abc', explicitHashKey: '-5' }), /explicitHashKey .* "-5"/);
  });
});

describe('findShardForHashKey and findShardForPartitionKey', () => {
  const shards = evenHashKeyRanges(4).map(toShard);

  it('finds the shard owning a key, boundaries included', () => {
    expect(findShardForHashKey(shards, 0n)?.ShardId).toBe('shardId-000000000000');
    expect(findShardForHashKey(shards, 2n ** 126n - 1n)?.ShardId).toBe('shardId-000000000000');
    expect(findShardForHashKey(shards, 2n ** 126n)?.ShardId).toBe('shardId-000000000001');
    expect(findShardForHashKey(shards, MAX_HASH_KEY)?.ShardId).toBe('shardId-000000000003');
  });

  it('routes a partition key by its MD5', () => {
    // MD5("abc") starts with 0x90: the third quarter of the space.
    expect(findShardForPartitionKey(shards, 'abc')?.ShardId).toBe('shardId-000000000002');
    const key = 'user-42';
    const expected = shards[Number(md5AsBigInt(key) >> 126n)];
    expect(findShardForPartitionKey(shards, key)).toBe(expected);
  });

  it('returns undefined when no shard owns the key', () => {
    expect(findShardForHashKey(shards.slice(1), 0n)).toBeUndefined();
    expect(findShardForHashKey([], 0n)).toBeUndefined();
  });

  it('rejects keys outside the hash key space', () => {
    expectInvalid(() => findShardForHashKey(shards, -1n), /hashKey must be .* got -1n/);
    expectInvalid(() => findShardForHashKey(shards, MAX_HASH_KEY + 1n), `got ${MAX_HASH_KEY + 1n}n`);
  });

  it('rejects a shard without a valid range, naming it', () => {
    const broken: Shard[] = [{ ShardId: 'shardId-000000000009', HashKeyRange: undefined, SequenceNumberRange: undefined }];
    expectInvalid(() => findShardForHashKey(broken, 1n), 'shard shardId-000000000009 has no valid hash key range');
    expectInvalid(
      () => findShardForHashKey([{ HashKeyRange: { StartingHashKey: '5', EndingHashKey: '1' } }], 1n),
      /shards\[0\] has no valid hash key range/,
    );
  });
});

describe('hashKeyRangeMidpoint', () => {
  it('splits the whole space at 2^127', () => {
    expect(hashKeyRangeMidpoint({ startingHashKey: 0n, endingHashKey: MAX_HASH_KEY })).toBe(2n ** 127n);
  });

  it('gives the extra key of an odd-sized range to the second half', () => {
    expect(hashKeyRangeMidpoint({ startingHashKey: 5n, endingHashKey: 6n })).toBe(6n);
    expect(hashKeyRangeMidpoint({ startingHashKey: 5n, endingHashKey: 7n })).toBe(6n);
  });

  it('splits any range of two or more keys into two non-empty contiguous halves', () => {
    fc.assert(
      fc.property(
        anyRange.filter((range) => range.startingHashKey < range.endingHashKey),
        ({ startingHashKey, endingHashKey }) => {
          const midpoint = hashKeyRangeMidpoint({ startingHashKey, endingHashKey });
          // SplitShard: first child [start, midpoint - 1], second child [midpoint, end].
          expect(midpoint).toBeGreaterThan(startingHashKey);
          expect(midpoint).toBeLessThanOrEqual(endingHashKey);
          const firstSize = midpoint - startingHashKey;
          const secondSize = endingHashKey - midpoint + 1n;
          expect(firstSize + secondSize).toBe(endingHashKey - startingHashKey + 1n);
          expect(secondSize - firstSize === 0n || secondSize - firstSize === 1n).toBe(true);
        },
      ),
    );
  });

  it('rejects single-key and malformed ranges', () => {
    const singleKey = { startingHashKey: 3n, endingHashKey: 3n };
    expectInvalid(() => hashKeyRangeMidpoint(singleKey), /\[3, 3\] holds a single key/);
    expectInvalid(() => hashKeyRangeMidpoint({ startingHashKey: 4n, endingHashKey: 3n }), '[4, 3]');
    expectInvalid(() => hashKeyRangeMidpoint({ startingHashKey: 0n, endingHashKey: MAX_HASH_KEY + 1n }), /endingHashKey must be/);
  });
});

describe('evenHashKeyRanges', () => {
  it('gives one range for the whole space', () => {
    expect(evenHashKeyRanges(1)).toEqual([{ startingHashKey: 0n, endingHashKey: MAX_HASH_KEY }]);
  });

  it('starts range i at floor(i * 2^128 / count)', () => {
    expect(evenHashKeyRanges(3)).toEqual([
      { startingHashKey: 0n, endingHashKey: 113427455640312821154458202477256070484n },
      {
        startingHashKey: 113427455640312821154458202477256070485n,
        endingHashKey: 226854911280625642308916404954512140969n,
      },
      { startingHashKey: 226854911280625642308916404954512140970n, endingHashKey: MAX_HASH_KEY },
    ]);
  });

  it('tiles [0, MAX_HASH_KEY] with no gap and no overlap, sizes within one key', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), (count) => {
        const ranges = evenHashKeyRanges(count);
        expect(ranges).toHaveLength(count);
        expect(ranges[0]?.startingHashKey).toBe(0n);
        expect(ranges.at(-1)?.endingHashKey).toBe(MAX_HASH_KEY);
        const sizes = ranges.map((range) => range.endingHashKey - range.startingHashKey + 1n);
        ranges.forEach((range, i) => {
          expect(range.startingHashKey).toBeLessThanOrEqual(range.endingHashKey);
          const next = ranges[i + 1];
          if (next !== undefined) expect(next.startingHashKey).toBe(range.endingHashKey + 1n);
        });
        const smallest = sizes.reduce((a, b) => (a < b ? a : b));
        const largest = sizes.reduce((a, b) => (a > b ? a : b));
        expect(largest - smallest <= 1n).toBe(true);
      }),
    );
  });

  it('puts every key in exactly one range, which findShardForHashKey finds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        anyHashKey,
        fc.nat(),
        fc.constantFrom('start', 'end', 'random'),
        (count, randomKey, rangeIndex, which) => {
          const ranges = evenHashKeyRanges(count);
          const boundaryRange = ranges[rangeIndex % count] as HashKeyRange;
          const key = which === 'start' ? boundaryRange.startingHashKey : which === 'end' ? boundaryRange.endingHashKey : randomKey;
          const owners = ranges.flatMap((range, i) => (hashKeyInRange(key, range) ? [i] : []));
          expect(owners).toHaveLength(1);
          const shards = ranges.map(toShard);
          expect(findShardForHashKey(shards, key)).toBe(shards[owners[0] as number]);
        },
      ),
    );
  });

  it('rejects counts that are not positive integers', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expectInvalid(() => evenHashKeyRanges(bad), `count must be a positive integer, got ${String(bad)}`);
    }
  });
});
