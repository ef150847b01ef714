/** What one Kinesis shard serves (provisioned mode). */
export const SHARD_LIMITS = {
  /** Writes: 1 MiB a second… */
  writeBytesPerSecond: 1024 * 1024,
  /** …or 1,000 records a second, whichever comes first. */
  writeRecordsPerSecond: 1_000,
  /** Reads: 2 MiB a second, shared by every polling consumer (each enhanced fan-out consumer gets its own). */
  readBytesPerSecond: 2 * 1024 * 1024,
} as const;

/** The limit that decides a shard count. */
export type BindingLimit = 'write-bytes' | 'write-records' | 'read-bytes';

/** The shards a rate needs, fractional, by each limit. */
export interface ShardNeeds {
  readonly 'write-bytes': number;
  readonly 'write-records': number;
  readonly 'read-bytes': number;
}

/**
 * Shards needed by each limit for a stream written at `bytesPerSecond` and `recordsPerSecond`
 * and read in full by `pollingConsumers` polling applications (enhanced fan-out consumers have
 * their own read capacity and do not count).
 */
export function shardNeeds(bytesPerSecond: number, recordsPerSecond: number, pollingConsumers: number): ShardNeeds {
  return {
    'write-bytes': bytesPerSecond / SHARD_LIMITS.writeBytesPerSecond,
    'write-records': recordsPerSecond / SHARD_LIMITS.writeRecordsPerSecond,
    'read-bytes': (bytesPerSecond * pollingConsumers) / SHARD_LIMITS.readBytesPerSecond,
  };
}

/** The limit that needs the most shards (the first of equals, in write-records, write-bytes, read-bytes order). */
export function bindingLimit(needs: ShardNeeds): BindingLimit {
  const order: BindingLimit[] = ['write-records', 'write-bytes', 'read-bytes'];
  return order.reduce((best, limit) => (needs[limit] > needs[best] ? limit : best), order[0]!);
}

/** The smallest power of two at or above `count` (1 for 0 or less). */
export function nextPowerOfTwo(count: number): number {
  let power = 1;
  while (power < count) power *= 2;
  return power;
}
