import { createHash } from 'node:crypto';
import { InvalidArgumentError } from './errors.js';

/**
 * The largest hash key, 2^128 - 1. Kinesis hash keys are unsigned 128-bit integers, so the
 * whole key space is the inclusive range [0, MAX_HASH_KEY].
 */
export const MAX_HASH_KEY: bigint = 2n ** 128n - 1n;

/** The number of hash keys in the whole space, 2^128. */
const HASH_KEY_COUNT = MAX_HASH_KEY + 1n;

/** Kinesis refuses partition keys longer than this many characters. */
const MAX_PARTITION_KEY_LENGTH = 256;

const DECIMAL = /^\d+$/;

/** The inclusive range of hash keys a shard owns. */
export interface HashKeyRange {
  readonly startingHashKey: bigint;
  readonly endingHashKey: bigint;
}

/** The shape the AWS SDK uses for a shard's hash key range: decimal strings, each optional. */
export interface AwsHashKeyRange {
  readonly StartingHashKey?: string | undefined;
  readonly EndingHashKey?: string | undefined;
}

/**
 * The hash key Kinesis assigns to a partition key: the MD5 digest of its UTF-8 bytes, read as
 * an unsigned big-endian 128-bit integer.
 *
 * @param partitionKey - 1 to 256 characters (UTF-16 code units), as Kinesis requires.
 * @throws {@link InvalidArgumentError} when the key is empty or longer than 256 characters.
 */
export function hashKeyForPartitionKey(partitionKey: string): bigint {
  if (typeof partitionKey !== 'string' || partitionKey.length === 0) {
    throw new InvalidArgumentError(`partitionKey must be a non-empty string, got ${describe(partitionKey)}`);
  }
  if (partitionKey.length > MAX_PARTITION_KEY_LENGTH) {
    throw new InvalidArgumentError(
      `partitionKey must be at most ${MAX_PARTITION_KEY_LENGTH} characters, ` +
        `got ${partitionKey.length} characters: ${describe(partitionKey)}`,
    );
  }
  const digest = createHash('md5').update(partitionKey, 'utf8').digest('hex');
  return BigInt(`0x${digest}`);
}

/**
 * Parses a hash key written as a decimal string, as Kinesis returns them and as
 * `ExplicitHashKey` takes them.
 *
 * @throws {@link InvalidArgumentError} unless `decimal` is only ASCII digits and its value lies
 * in [0, {@link MAX_HASH_KEY}].
 */
export function parseHashKey(decimal: string): bigint {
  return parseNamedHashKey(decimal, 'hash key');
}

/**
 * Converts the AWS SDK's `HashKeyRange` (`{ StartingHashKey, EndingHashKey }`, decimal strings)
 * into a {@link HashKeyRange}.
 *
 * @throws {@link InvalidArgumentError} when a bound is missing or malformed, or unless
 * 0 ≤ start ≤ end ≤ {@link MAX_HASH_KEY}.
 */
export function parseHashKeyRange(range: AwsHashKeyRange): HashKeyRange {
  if (range === null || typeof range !== 'object') {
    throw new InvalidArgumentError(`hash key range must be an object, got ${describe(range)}`);
  }
  const startingHashKey = parseNamedHashKey(range.StartingHashKey, 'StartingHashKey');
  const endingHashKey = parseNamedHashKey(range.EndingHashKey, 'EndingHashKey');
  const parsed = { startingHashKey, endingHashKey };
  assertHashKeyRange(parsed);
  return parsed;
}

/** True when `key` lies in the inclusive `range`. */
export function hashKeyInRange(key: bigint, range: HashKeyRange): boolean {
  return range.startingHashKey <= key && key <= range.endingHashKey;
}

/**
 * The hash key that decides which shard a record belongs to: its explicit hash key when the
 * producer set one, otherwise the MD5 of its partition key.
 *
 * @throws {@link InvalidArgumentError} when the explicit hash key is malformed or, without one,
 * when the partition key is empty or too long.
 */
export function hashKeyForRecord(record: { readonly partitionKey: string; readonly explicitHashKey?: string | undefined }): bigint {
  return record.explicitHashKey === undefined
    ? hashKeyForPartitionKey(record.partitionKey)
    : parseNamedHashKey(record.explicitHashKey, 'explicitHashKey');
}

/**
 * The shard whose hash key range holds `hashKey`, or `undefined` when none does.
 *
 * Pass the stream's open shards (from ListShards, those without
 * `SequenceNumberRange.EndingSequenceNumber`): their ranges tile the key space without overlap,
 * so exactly one matches. Closed parents overlap their children, and with them in the list the
 * first match in list order is returned.
 *
 * @throws {@link InvalidArgumentError} when `hashKey` lies outside [0, {@link MAX_HASH_KEY}] or
 * a shard's `HashKeyRange` is missing or malformed.
 */
export function findShardForHashKey<T extends { HashKeyRange?: { StartingHashKey?: string; EndingHashKey?: string } }>(
  shards: readonly T[],
  hashKey: bigint,
): T | undefined {
  assertHashKey(hashKey, 'hashKey');
  for (const [index, shard] of shards.entries()) {
    if (hashKeyInRange(hashKey, shardRange(shard, index))) return shard;
  }
  return undefined;
}

/**
 * The shard a record with this partition key (and no explicit hash key) is written to, among the
 * open shards passed in; see {@link findShardForHashKey}.
 *
 * @throws {@link InvalidArgumentError} as {@link hashKeyForPartitionKey} and
 * {@link findShardForHashKey} do.
 */
export function findShardForPartitionKey<T extends { HashKeyRange?: { StartingHashKey?: string; EndingHashKey?: string } }>(
  shards: readonly T[],
  partitionKey: string,
): T | undefined {
  return findShardForHashKey(shards, hashKeyForPartitionKey(partitionKey));
}

/**
 * The `NewStartingHashKey` that splits `range` in half with SplitShard:
 * `start + (end - start + 1) / 2`, rounded down. SplitShard gives the first child
 * [start, midpoint - 1] and the second child [midpoint, end], so both are non-empty; when the
 * range holds an odd number of keys the second child gets the extra one.
 *
 * @throws {@link InvalidArgumentError} when the range is malformed or holds a single key, which
 * cannot be split.
 */
export function hashKeyRangeMidpoint(range: HashKeyRange): bigint {
  assertHashKeyRange(range);
  const { startingHashKey, endingHashKey } = range;
  if (startingHashKey === endingHashKey) {
    throw new InvalidArgumentError(`hash key range [${startingHashKey}, ${endingHashKey}] holds a single key and cannot be split`);
  }
  return startingHashKey + (endingHashKey - startingHashKey + 1n) / 2n;
}

/**
 * `count` ranges that tile [0, {@link MAX_HASH_KEY}] in order, contiguous and without overlap.
 * Range `i` starts at floor(i · 2^128 / count), so their sizes differ by at most one key.
 *
 * @throws {@link InvalidArgumentError} unless `count` is a positive safe integer.
 */
export function evenHashKeyRanges(count: number): HashKeyRange[] {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new InvalidArgumentError(`count must be a positive integer, got ${describe(count)}`);
  }
  const n = BigInt(count);
  const ranges: HashKeyRange[] = [];
  for (let i = 0n; i < n; i += 1n) {
    ranges.push({
      startingHashKey: (i * HASH_KEY_COUNT) / n,
      endingHashKey: ((i + 1n) * HASH_KEY_COUNT) / n - 1n,
    });
  }
  return ranges;
}

function parseNamedHashKey(decimal: string | undefined, name: string): bigint {
  if (typeof decimal !== 'string' || !DECIMAL.test(decimal)) {
    throw new InvalidArgumentError(`${name} must be a decimal integer string, got ${describe(decimal)}`);
  }
  const value = BigInt(decimal);
  if (value > MAX_HASH_KEY) {
    throw new InvalidArgumentError(`${name} must be at most 2^128 - 1 (${MAX_HASH_KEY}), got ${decimal}`);
  }
  return value;
}

function assertHashKey(key: bigint, name: string): void {
  if (typeof key !== 'bigint' || key < 0n || key > MAX_HASH_KEY) {
    throw new InvalidArgumentError(`${name} must be a bigint in [0, 2^128 - 1], got ${describe(key)}`);
  }
}

function assertHashKeyRange(range: HashKeyRange): void {
  assertHashKey(range.startingHashKey, 'startingHashKey');
  assertHashKey(range.endingHashKey, 'endingHashKey');
  if (range.startingHashKey > range.endingHashKey) {
    throw new InvalidArgumentError(`hash key range must not end before it starts, got [${range.startingHashKey}, ${range.endingHashKey}]`);
  }
}

function shardRange(shard: { HashKeyRange?: AwsHashKeyRange }, index: number): HashKeyRange {
  try {
    if (shard.HashKeyRange === undefined) {
      throw new InvalidArgumentError('HashKeyRange is missing');
    }
    return parseHashKeyRange(shard.HashKeyRange);
  } catch (error) {
    const shardId = (shard as { ShardId?: unknown }).ShardId;
    const which = typeof shardId === 'string' ? `shard ${shardId}` : `shards[${index}]`;
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidArgumentError(`${which} has no valid hash key range: ${reason}`, { cause: error });
  }
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  return String(value);
}
