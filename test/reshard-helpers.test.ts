import { HashKeyOutOfRangeError, ShardClosedError, ShardsNotAdjacentError, listShards, mergeShards, splitShard } from '@shoal/coordinator';
import { LocalStack, uniqueName } from '@shoal/local-stack';
import { InvalidArgumentError, MAX_HASH_KEY } from '@shoal/processor-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Split and merge against kinesalite: what each leaves behind, and the errors that name the problem.
let stack: LocalStack;

beforeAll(async () => {
  stack = await LocalStack.start();
});

afterAll(async () => {
  await stack?.stop();
});

async function streamWith(shardCount: number): Promise<string> {
  const streamName = uniqueName('reshard');
  await stack.createStream(streamName, shardCount);
  return streamName;
}

describe('splitShard', () => {
  it('splits an open shard at the middle of its range into two children that tile it', async () => {
    const streamName = await streamWith(1);
    const [parent] = await listShards(stack.kinesis, streamName);
    const { closedShardIds, childShards } = await splitShard(stack.kinesis, streamName, parent!.shardId);

    expect(closedShardIds).toEqual([parent!.shardId]);
    const middle = (MAX_HASH_KEY + 1n) / 2n;
    expect(childShards.map((child) => [child.hashKeyRange.startingHashKey, child.hashKeyRange.endingHashKey]).sort()).toEqual(
      [
        ['0', (middle - 1n).toString()],
        [middle.toString(), MAX_HASH_KEY.toString()],
      ].sort(),
    );
    for (const child of childShards) expect(child.parentShardIds).toEqual([parent!.shardId]);
    const closed = (await listShards(stack.kinesis, streamName)).find((shard) => shard.shardId === parent!.shardId);
    expect(closed?.endingSequenceNumber).toBeDefined();
  });

  it('splits at a given hash key', async () => {
    const streamName = await streamWith(1);
    const [parent] = await listShards(stack.kinesis, streamName);
    const { childShards } = await splitShard(stack.kinesis, streamName, parent!.shardId, { newStartingHashKey: '1000' });
    expect(childShards.map((child) => child.hashKeyRange.startingHashKey).sort()).toEqual(['0', '1000']);
  });

  it('refuses a closed shard, a key outside the range, an unknown shard and a malformed key', async () => {
    const streamName = await streamWith(2);
    const [first, second] = await listShards(stack.kinesis, streamName);
    await expect(
      splitShard(stack.kinesis, streamName, first!.shardId, { newStartingHashKey: first!.hashKeyRange.startingHashKey }),
    ).rejects.toThrow(HashKeyOutOfRangeError);
    const beyond = (BigInt(first!.hashKeyRange.endingHashKey) + 1n).toString();
    await expect(splitShard(stack.kinesis, streamName, first!.shardId, { newStartingHashKey: beyond })).rejects.toMatchObject({
      code: 'HASH_KEY_OUT_OF_RANGE',
      message: expect.stringContaining(first!.shardId),
    });
    await expect(splitShard(stack.kinesis, streamName, 'shardId-000000000099')).rejects.toThrow(InvalidArgumentError);
    await expect(splitShard(stack.kinesis, streamName, second!.shardId, { newStartingHashKey: 'half' })).rejects.toThrow(
      /decimal hash key/,
    );

    await splitShard(stack.kinesis, streamName, first!.shardId);
    await expect(splitShard(stack.kinesis, streamName, first!.shardId)).rejects.toThrow(ShardClosedError);
  });
});

describe('mergeShards', () => {
  it('merges two adjacent shards into one child with both as parents', async () => {
    const streamName = await streamWith(2);
    const [first, second] = await listShards(stack.kinesis, streamName);
    const { closedShardIds, childShards } = await mergeShards(stack.kinesis, streamName, first!.shardId, second!.shardId);
    expect(closedShardIds).toEqual([first!.shardId, second!.shardId]);
    expect(childShards).toHaveLength(1);
    expect([...childShards[0]!.parentShardIds].sort()).toEqual([first!.shardId, second!.shardId].sort());
    expect(childShards[0]!.hashKeyRange).toEqual({ startingHashKey: '0', endingHashKey: MAX_HASH_KEY.toString() });
  });

  it('refuses shards that do not touch, a closed shard, and a shard merged with itself', async () => {
    const streamName = await streamWith(3);
    const [first, second, third] = await listShards(stack.kinesis, streamName);
    await expect(mergeShards(stack.kinesis, streamName, first!.shardId, third!.shardId)).rejects.toThrow(ShardsNotAdjacentError);
    await expect(mergeShards(stack.kinesis, streamName, first!.shardId, first!.shardId)).rejects.toThrow(InvalidArgumentError);
    await mergeShards(stack.kinesis, streamName, second!.shardId, third!.shardId);
    await expect(mergeShards(stack.kinesis, streamName, first!.shardId, second!.shardId)).rejects.toMatchObject({ code: 'SHARD_CLOSED' });
  });
});

describe('listShards with a shard filter', () => {
  it('lists only the shards after a given one where the service supports it (kinesalite lists all)', async () => {
    const streamName = await streamWith(2);
    const [first, second] = await listShards(stack.kinesis, streamName);
    const { childShards } = await splitShard(stack.kinesis, streamName, first!.shardId);
    const after = await listShards(stack.kinesis, streamName, { shardFilter: { Type: 'AFTER_SHARD_ID', ShardId: second!.shardId } });
    // Every child is listed either way; callers must not rely on older shards being left out.
    for (const child of childShards) expect(after.map((shard) => shard.shardId)).toContain(child.shardId);
  });
});
