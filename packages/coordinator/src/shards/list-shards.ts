import { withRequestTimeout } from '../aws/request-timeout.js';
import { ListShardsCommand, LimitExceededException, type KinesisClient, type Shard, type ShardFilter } from '@aws-sdk/client-kinesis';

export interface ShardInfo {
  readonly shardId: string;
  readonly parentShardIds: readonly string[];
  readonly hashKeyRange: { readonly startingHashKey: string; readonly endingHashKey: string };
  readonly startingSequenceNumber: string;
  /** Set once the shard is closed (split or merged); reading it then ends at SHARD_END. */
  readonly endingSequenceNumber: string | undefined;
}

export interface ListShardsOptions {
  readonly signal?: AbortSignal;
  /** Waits between attempts when ListShards is throttled. */
  readonly retryDelayMs?: number;
  readonly maxAttempts?: number;
  /**
   * Only part of the stream, e.g. `{ Type: 'AFTER_SHARD_ID', ShardId }` for the shards created
   * after a given one (a finished parent's children). Sent with the first page only, as the API
   * requires; kinesalite ignores it and lists every shard, which callers must accept.
   */
  readonly shardFilter?: ShardFilter;
  /** A page without an answer after this long fails with `RequestTimeoutError`. Default 5000 ms. */
  readonly requestTimeoutMs?: number;
}

/**
 * Lists every shard of a stream, following NextToken pages. A follow-up page is requested only
 * when the service returned a NextToken (kinesalite never does, and crashes if sent one).
 */
export async function listShards(kinesis: KinesisClient, streamName: string, options: ListShardsOptions = {}): Promise<ShardInfo[]> {
  const shards: ShardInfo[] = [];
  let nextToken: string | undefined;
  do {
    const page = await withThrottleRetry(
      () =>
        withRequestTimeout(
          'Kinesis ListShards',
          options.requestTimeoutMs ?? 5_000,
          (abortSignal) =>
            kinesis.send(
              new ListShardsCommand(
                nextToken === undefined ? { StreamName: streamName, ShardFilter: options.shardFilter } : { NextToken: nextToken },
              ),
              { abortSignal },
            ),
          options.signal,
        ),
      options,
    );
    for (const shard of page.Shards ?? []) shards.push(toShardInfo(shard));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return shards;
}

export function toShardInfo(shard: Shard): ShardInfo {
  return {
    shardId: shard.ShardId ?? '',
    parentShardIds: [shard.ParentShardId, shard.AdjacentParentShardId].filter((id): id is string => !!id),
    hashKeyRange: {
      startingHashKey: shard.HashKeyRange?.StartingHashKey ?? '0',
      endingHashKey: shard.HashKeyRange?.EndingHashKey ?? '0',
    },
    startingSequenceNumber: shard.SequenceNumberRange?.StartingSequenceNumber ?? '0',
    endingSequenceNumber: shard.SequenceNumberRange?.EndingSequenceNumber,
  };
}

/** Retries `call` while Kinesis answers LimitExceededException, waiting a little longer each time. */
export async function withThrottleRetry<T>(
  call: () => Promise<T>,
  options: Pick<ListShardsOptions, 'retryDelayMs' | 'maxAttempts'>,
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 10;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof LimitExceededException) || attempt >= maxAttempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, (options.retryDelayMs ?? 200) * attempt));
    }
  }
}
