import { DescribeStreamSummaryCommand, MergeShardsCommand, SplitShardCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { InvalidArgumentError, hashKeyRangeMidpoint, parseHashKeyRange } from '@shoal/processor-sdk';
import { listShards, type ShardInfo } from './list-shards.js';
import { HashKeyOutOfRangeError, ShardClosedError, ShardsNotAdjacentError } from './reshard-errors.js';

export interface ReshardOptions {
  /** Wait until the stream is ACTIVE again and report the new shards. Default true. */
  readonly waitUntilActive?: boolean;
  /** How long to wait for ACTIVE. Default 60000 ms. */
  readonly timeoutMs?: number;
  /** Pause between DescribeStreamSummary calls while waiting. Default 100 ms. */
  readonly pollIntervalMs?: number;
  readonly signal?: AbortSignal;
}

export interface SplitShardOptions extends ReshardOptions {
  /**
   * The first hash key of the second child (decimal string or bigint); the first child keeps
   * the keys below it. Default: the midpoint of the parent's range.
   */
  readonly newStartingHashKey?: string | bigint;
}

/** The shards a split or merge closed and the ones it opened (empty when not waited for). */
export interface ReshardResult {
  readonly closedShardIds: readonly string[];
  readonly childShards: readonly ShardInfo[];
}

/**
 * Splits an open shard at `newStartingHashKey` (default: the middle of its hash key range).
 *
 * @throws {@link ShardClosedError} when the shard was already split or merged,
 *   {@link HashKeyOutOfRangeError} when the key is not strictly inside the shard's range (the
 *   second child would be the whole shard or empty), {@link InvalidArgumentError} for an
 *   unknown shard or a malformed key.
 */
export async function splitShard(
  kinesis: KinesisClient,
  streamName: string,
  shardId: string,
  options: SplitShardOptions = {},
): Promise<ReshardResult> {
  const shard = openShard(await listShards(kinesis, streamName, options), streamName, shardId);
  const range = parseHashKeyRange({ StartingHashKey: shard.hashKeyRange.startingHashKey, EndingHashKey: shard.hashKeyRange.endingHashKey });
  const splitAt = options.newStartingHashKey === undefined ? hashKeyRangeMidpoint(range) : toHashKey(options.newStartingHashKey);
  if (splitAt <= range.startingHashKey || splitAt > range.endingHashKey) {
    throw new HashKeyOutOfRangeError(
      `cannot split ${shardId} of ${streamName} at ${splitAt}: the key must be above ${range.startingHashKey} and at most ${range.endingHashKey}`,
    );
  }
  await kinesis.send(new SplitShardCommand({ StreamName: streamName, ShardToSplit: shardId, NewStartingHashKey: splitAt.toString() }), {
    abortSignal: options.signal,
  });
  return settle(kinesis, streamName, [shardId], options);
}

/**
 * Merges two open shards whose hash key ranges touch into one child.
 *
 * @throws {@link ShardClosedError} when either shard is closed, {@link ShardsNotAdjacentError}
 *   when their ranges do not touch, {@link InvalidArgumentError} for an unknown shard or the
 *   same shard twice.
 */
export async function mergeShards(
  kinesis: KinesisClient,
  streamName: string,
  shardId: string,
  adjacentShardId: string,
  options: ReshardOptions = {},
): Promise<ReshardResult> {
  if (shardId === adjacentShardId) throw new InvalidArgumentError(`cannot merge ${shardId} of ${streamName} with itself`);
  const shards = await listShards(kinesis, streamName, options);
  const first = openShard(shards, streamName, shardId);
  const second = openShard(shards, streamName, adjacentShardId);
  if (!adjacent(first, second)) {
    throw new ShardsNotAdjacentError(
      `cannot merge ${shardId} [${first.hashKeyRange.startingHashKey}, ${first.hashKeyRange.endingHashKey}] with ` +
        `${adjacentShardId} [${second.hashKeyRange.startingHashKey}, ${second.hashKeyRange.endingHashKey}] of ${streamName}: their hash key ranges do not touch`,
    );
  }
  await kinesis.send(new MergeShardsCommand({ StreamName: streamName, ShardToMerge: shardId, AdjacentShardToMerge: adjacentShardId }), {
    abortSignal: options.signal,
  });
  return settle(kinesis, streamName, [shardId, adjacentShardId], options);
}

function openShard(shards: readonly ShardInfo[], streamName: string, shardId: string): ShardInfo {
  const shard = shards.find((candidate) => candidate.shardId === shardId);
  if (!shard) throw new InvalidArgumentError(`stream ${streamName} has no shard ${shardId}`);
  if (shard.endingSequenceNumber !== undefined) {
    throw new ShardClosedError(`shard ${shardId} of ${streamName} is closed (split or merged before): only open shards can be resharded`);
  }
  return shard;
}

function adjacent(a: ShardInfo, b: ShardInfo): boolean {
  const [aStart, aEnd] = [BigInt(a.hashKeyRange.startingHashKey), BigInt(a.hashKeyRange.endingHashKey)];
  const [bStart, bEnd] = [BigInt(b.hashKeyRange.startingHashKey), BigInt(b.hashKeyRange.endingHashKey)];
  return aEnd + 1n === bStart || bEnd + 1n === aStart;
}

function toHashKey(value: string | bigint): bigint {
  if (typeof value === 'bigint') return value;
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`newStartingHashKey must be a decimal hash key, got ${JSON.stringify(value)}`);
  return BigInt(value);
}

/** Waits for ACTIVE, then names the children of the closed shards. */
async function settle(
  kinesis: KinesisClient,
  streamName: string,
  closedShardIds: string[],
  options: ReshardOptions,
): Promise<ReshardResult> {
  if (options.waitUntilActive === false) return { closedShardIds, childShards: [] };
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }), {
      abortSignal: options.signal,
    });
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
    if (Date.now() > deadline)
      throw new Error(`stream ${streamName} did not become ACTIVE within ${options.timeoutMs ?? 60_000} ms after resharding`);
    await new Promise((resolve) => setTimeout(resolve, options.pollIntervalMs ?? 100));
  }
  const shards = await listShards(kinesis, streamName, options);
  const childShards = shards.filter((shard) => shard.parentShardIds.some((parent) => closedShardIds.includes(parent)));
  return { closedShardIds, childShards };
}
