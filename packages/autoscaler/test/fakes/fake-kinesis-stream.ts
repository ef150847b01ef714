import type { KinesisClient } from '@aws-sdk/client-kinesis';

/** The largest hash key of a stream. */
export const MAX_HASH_KEY = 2n ** 128n - 1n;

/** One call that changes the stream, as the fake answered it. */
export interface StreamChangeCall {
  readonly name: 'UpdateShardCountCommand' | 'SplitShardCommand' | 'MergeShardsCommand';
  readonly input: Record<string, unknown>;
  /** `accepted`, or the name of the error Kinesis refused it with. */
  readonly outcome: 'accepted' | 'ResourceInUseException';
}

interface FakeShard {
  readonly id: string;
  readonly start: bigint;
  readonly end: bigint;
  closed: boolean;
  readonly parents: readonly string[];
}

/**
 * One Kinesis stream in memory, behind a client that answers ListShards,
 * DescribeStreamSummary, UpdateShardCount, SplitShard and MergeShards the way Kinesis does: a
 * change leaves the stream UPDATING (for `updatingPolls` DescribeStreamSummary calls, or with a
 * `clock` for `updatingMs` of it), and a change asked for while UPDATING is refused with
 * ResourceInUseException. Every change asked for is kept in `calls`.
 */
export class FakeKinesisStream {
  status: 'ACTIVE' | 'UPDATING' = 'ACTIVE';
  /** DescribeStreamSummary answers UPDATING this many times after each change (without a clock). Default 0. */
  updatingPolls = 0;
  /** With a clock, a change stays UPDATING for `updatingMs` of it instead of a number of polls. */
  clock: (() => number) | undefined;
  updatingMs = 0;
  /** Called with each command's name before it is answered (tests advance a clock or change leaders here). */
  onCall: (name: string) => void = () => {};
  readonly calls: StreamChangeCall[] = [];
  readonly client: KinesisClient;

  private shards: FakeShard[] = [];
  private nextId = 0;
  private pendingCount: number | undefined;
  private pollsLeft = 0;
  private updatingUntil = 0;

  constructor(shardCount: number) {
    this.addEvenShards(shardCount, []);
    this.client = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) =>
        this.answer(command.constructor.name, command.input),
      middlewareStack: { add() {}, remove() {} },
      destroy() {},
    } as unknown as KinesisClient;
  }

  /** The open shards, in hash key order. */
  openShards(): { id: string; start: bigint; end: bigint }[] {
    return this.shards.filter((shard) => !shard.closed).sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  /** Another client's change: the stream is UPDATING until `finishUpdate()`. */
  startForeignUpdate(): void {
    this.status = 'UPDATING';
    this.pollsLeft = Number.POSITIVE_INFINITY;
    this.updatingUntil = Number.POSITIVE_INFINITY;
  }

  /** Ends the UPDATING state now, applying a pending UpdateShardCount. */
  finishUpdate(): void {
    if (this.pendingCount !== undefined) {
      const parents = this.openShards().map((shard) => shard.id);
      this.addEvenShards(this.pendingCount, parents.slice(0, 2));
      this.pendingCount = undefined;
    }
    this.status = 'ACTIVE';
  }

  private async answer(name: string, input: Record<string, unknown>): Promise<unknown> {
    await Promise.resolve();
    this.onCall(name);
    if (this.clock && this.status === 'UPDATING' && this.clock() >= this.updatingUntil) this.finishUpdate();
    switch (name) {
      case 'ListShardsCommand':
        return { Shards: this.shards.map(describeShard) };
      case 'DescribeStreamSummaryCommand':
        if (this.status === 'UPDATING' && !this.clock) {
          this.pollsLeft -= 1;
          if (this.pollsLeft < 0) this.finishUpdate();
        }
        return { StreamDescriptionSummary: { StreamStatus: this.status, OpenShardCount: this.openShards().length } };
      case 'UpdateShardCountCommand':
      case 'SplitShardCommand':
      case 'MergeShardsCommand':
        return this.change(name, input);
      default:
        throw awsError('UnknownOperationException', `the fake stream does not answer ${name}`);
    }
  }

  private change(name: StreamChangeCall['name'], input: Record<string, unknown>): object {
    if (this.status !== 'ACTIVE') {
      this.calls.push({ name, input, outcome: 'ResourceInUseException' });
      throw awsError('ResourceInUseException', 'the stream is UPDATING');
    }
    this.calls.push({ name, input, outcome: 'accepted' });
    if (name === 'UpdateShardCountCommand') this.pendingCount = Number(input.TargetShardCount);
    else if (name === 'SplitShardCommand') this.split(String(input.ShardToSplit), BigInt(String(input.NewStartingHashKey)));
    else this.merge(String(input.ShardToMerge), String(input.AdjacentShardToMerge));
    this.status = 'UPDATING';
    this.pollsLeft = this.updatingPolls;
    if (this.clock) this.updatingUntil = this.clock() + this.updatingMs;
    else if (this.pollsLeft <= 0) this.finishUpdate();
    return {};
  }

  private addEvenShards(count: number, parents: readonly string[]): void {
    for (const shard of this.shards) shard.closed = true;
    const width = (MAX_HASH_KEY + 1n) / BigInt(count);
    for (let index = 0; index < count; index += 1) {
      const start = width * BigInt(index);
      const end = index === count - 1 ? MAX_HASH_KEY : start + width - 1n;
      this.shards.push({ id: this.newId(), start, end, closed: false, parents });
    }
  }

  private split(shardId: string, at: bigint): void {
    const shard = this.openShard(shardId);
    shard.closed = true;
    this.shards.push({ id: this.newId(), start: shard.start, end: at - 1n, closed: false, parents: [shardId] });
    this.shards.push({ id: this.newId(), start: at, end: shard.end, closed: false, parents: [shardId] });
  }

  private merge(shardId: string, adjacentShardId: string): void {
    const [low, high] = [this.openShard(shardId), this.openShard(adjacentShardId)].sort((a, b) => (a.start < b.start ? -1 : 1));
    low!.closed = true;
    high!.closed = true;
    this.shards.push({ id: this.newId(), start: low!.start, end: high!.end, closed: false, parents: [low!.id, high!.id] });
  }

  private openShard(shardId: string): FakeShard {
    const shard = this.shards.find((candidate) => candidate.id === shardId && !candidate.closed);
    if (!shard) throw awsError('ResourceNotFoundException', `no open shard ${shardId}`);
    return shard;
  }

  private newId(): string {
    return `shardId-${String(this.nextId++).padStart(12, '0')}`;
  }
}

function describeShard(shard: FakeShard) {
  return {
    ShardId: shard.id,
    ParentShardId: shard.parents[0],
    AdjacentParentShardId: shard.parents[1],
    HashKeyRange: { StartingHashKey: shard.start.toString(), EndingHashKey: shard.end.toString() },
    SequenceNumberRange: { StartingSequenceNumber: '1', ...(shard.closed ? { EndingSequenceNumber: '2' } : {}) },
  };
}

function awsError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
