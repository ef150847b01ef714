import type { ChildShard, KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, type Logger, type ShardInfo } from '@shoal/coordinator';
import { errorName } from './kinesis-errors.js';

export interface ShardGoneCheck {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly shardId: string;
  /** For the log: the shard's parents, when known. */
  readonly parentShardIds?: readonly string[];
  readonly requestTimeoutMs: number;
  readonly signal?: AbortSignal;
  readonly logger: Logger;
}

/**
 * After a ResourceNotFoundException: if the stream answers but no longer lists the shard, the
 * shard expired out of the retention period (it must have been closed, or its children could
 * not exist). Nothing more can be read from it, so it ends there, as in KCL, and its children
 * may start: resolves their ids, and warns with the shard's lineage. Anything else (the stream
 * itself missing) resolves undefined, and the error stands.
 */
export async function childrenIfShardGone(error: unknown, check: ShardGoneCheck): Promise<string[] | undefined> {
  if (errorName(error) !== 'ResourceNotFoundException') return undefined;
  const { kinesis, streamName, shardId, requestTimeoutMs, signal } = check;
  let shards: ShardInfo[];
  try {
    shards = await listShards(kinesis, streamName, { ...(signal ? { signal } : {}), requestTimeoutMs });
  } catch {
    return undefined;
  }
  if (shards.some((shard) => shard.shardId === shardId)) return undefined;
  const childShardIds = shards.filter((shard) => shard.parentShardIds.includes(shardId)).map((shard) => shard.shardId);
  check.logger.warn(
    { shardId, parentShardIds: check.parentShardIds ?? [], childShardIds, err: error },
    'the stream no longer lists this shard: it expired out of the retention period before it was read to its end (its unread records are gone); treating it as ended so its children can start',
  );
  return childShardIds;
}

/** The ids of the child shards a closed shard's last answer names. */
export function childShardIdsOf(children: readonly ChildShard[] | undefined): string[] {
  return (children ?? []).map((child) => child.ShardId).filter((id): id is string => !!id);
}
