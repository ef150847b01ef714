import { SHARD_LIMITS, bindingLimit, nextPowerOfTwo, shardNeeds, type BindingLimit, type ShardNeeds } from './shard-limits.js';

/** A workload to size a stream for, before it exists. */
export interface Workload {
  /** Producers (devices, services) writing to the stream. */
  readonly producers: number;
  /** Records a second each producer writes. */
  readonly recordsPerSecondEach: number;
  /** Average record size in bytes (data and partition key). */
  readonly recordBytes: number;
  /** Applications that read every record by polling; they share each shard's 2 MiB/s. */
  readonly pollingConsumers: number;
  /** Spare capacity on top of the need, as a fraction: 0.2 for 20 %. */
  readonly headroom: number;
}

/** How busy each shard would be, as fractions of its limits. */
export interface ShardUse {
  readonly shards: number;
  readonly writeRecords: number;
  readonly writeBytes: number;
  readonly readBytes: number;
}

export interface CapacityPlan {
  readonly workload: Workload;
  readonly recordsPerSecond: number;
  readonly bytesPerSecond: number;
  /** Shards needed by each limit, before headroom. */
  readonly needs: ShardNeeds;
  readonly binding: BindingLimit;
  /** The need of the binding limit with headroom, rounded up. */
  readonly shards: number;
  /** The smallest power of two at or above `shards`: equal hash ranges, even splits and merges. */
  readonly powerOfTwoShards: number;
  readonly use: ShardUse;
  readonly powerOfTwoUse: ShardUse;
  /** The arithmetic, one line per step, in words. */
  readonly arithmetic: readonly string[];
}

/** Rounds up, ignoring the last bits of floating-point noise (10 × 1.2 is 12, not 13). */
function ceilShards(need: number): number {
  return Math.max(1, Math.ceil(need - 1e-9));
}

function useAt(shards: number, recordsPerSecond: number, bytesPerSecond: number, pollingConsumers: number): ShardUse {
  return {
    shards,
    writeRecords: recordsPerSecond / shards / SHARD_LIMITS.writeRecordsPerSecond,
    writeBytes: bytesPerSecond / shards / SHARD_LIMITS.writeBytesPerSecond,
    readBytes: (bytesPerSecond * pollingConsumers) / shards / SHARD_LIMITS.readBytesPerSecond,
  };
}

const LIMIT_WORDS: Record<BindingLimit, string> = {
  'write-records': 'writes, 1,000 records/s per shard',
  'write-bytes': 'writes, 1 MiB/s per shard',
  'read-bytes': 'reads, 2 MiB/s per shard shared by the polling consumers',
};

const number = (value: number, digits = 2) => value.toLocaleString('en-US', { maximumFractionDigits: digits });

/**
 * The shards a workload needs: the most any limit needs (writes in records and in bytes, and
 * the polling consumers' reads), times 1 + headroom, rounded up; and the power of two above it.
 */
export function planCapacity(workload: Workload): CapacityPlan {
  const { producers, recordsPerSecondEach, recordBytes, pollingConsumers, headroom } = workload;
  const recordsPerSecond = producers * recordsPerSecondEach;
  const bytesPerSecond = recordsPerSecond * recordBytes;
  const needs = shardNeeds(bytesPerSecond, recordsPerSecond, pollingConsumers);
  const binding = bindingLimit(needs);
  const shards = ceilShards(needs[binding] * (1 + headroom));
  const powerOfTwoShards = nextPowerOfTwo(shards);
  const kib = bytesPerSecond / 1024;
  const arithmetic = [
    `records in: ${number(producers)} producers × ${number(recordsPerSecondEach)} records/s = ${number(recordsPerSecond)} records/s`,
    `bytes in: ${number(recordsPerSecond)} records/s × ${number(recordBytes)} B = ${number(kib)} KiB/s`,
    `by write records: ${number(recordsPerSecond)} ÷ 1,000 = ${number(needs['write-records'])} shards`,
    `by write bytes: ${number(kib)} KiB/s ÷ 1,024 = ${number(needs['write-bytes'])} shards`,
    `by reads: ${number(pollingConsumers)} polling consumers × ${number(kib)} KiB/s ÷ 2,048 = ${number(needs['read-bytes'])} shards`,
    `binding: ${LIMIT_WORDS[binding]}`,
    `with ${number(headroom * 100)} % headroom: ${number(needs[binding])} × ${number(1 + headroom)} = ${number(needs[binding] * (1 + headroom))} → ${shards} shards`,
    `as a power of two: ${powerOfTwoShards} shards`,
  ];
  return {
    workload,
    recordsPerSecond,
    bytesPerSecond,
    needs,
    binding,
    shards,
    powerOfTwoShards,
    use: useAt(shards, recordsPerSecond, bytesPerSecond, pollingConsumers),
    powerOfTwoUse: useAt(powerOfTwoShards, recordsPerSecond, bytesPerSecond, pollingConsumers),
    arithmetic,
  };
}
