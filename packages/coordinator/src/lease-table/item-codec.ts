import type { Checkpoint } from '@shoal/processor-sdk';
import type { Lease, LeadershipRecord, NewLease, WorkerLivenessMode, WorkerRecord, WorkerStatus } from './lease.js';

/**
 * How leases and worker records map onto DynamoDB items. See docs/lease-table.md for the schema.
 * One table can hold many applications: the partition key is the namespace
 * (`<application>/<stream>`), the sort key says what the item is.
 */
export const PARTITION_KEY = 'namespace';
export const SORT_KEY = 'itemKey';

const LEASE_PREFIX = 'lease#';
const WORKER_PREFIX = 'worker#';
/** One leadership row per namespace. */
export const LEADERSHIP_ITEM_KEY = 'leader';

export const leaseItemKey = (leaseKey: string): string => `${LEASE_PREFIX}${leaseKey}`;
export const workerItemKey = (workerId: string): string => `${WORKER_PREFIX}${workerId}`;

export type Item = Record<string, unknown>;

export interface CheckpointAttributes {
  checkpoint: string;
  checkpointSubSequence: number;
  checkpointTimestamp?: number;
}

export function encodeCheckpoint(checkpoint: Checkpoint): CheckpointAttributes {
  switch (checkpoint.type) {
    case 'SEQUENCE':
      return {
        checkpoint: checkpoint.position.sequenceNumber,
        checkpointSubSequence: checkpoint.position.subSequenceNumber,
      };
    case 'AT_TIMESTAMP':
      return { checkpoint: 'AT_TIMESTAMP', checkpointSubSequence: 0, checkpointTimestamp: checkpoint.timestamp.getTime() };
    default:
      return { checkpoint: checkpoint.type, checkpointSubSequence: 0 };
  }
}

export function decodeCheckpoint(item: Item): Checkpoint {
  const value = item.checkpoint;
  switch (value) {
    case 'TRIM_HORIZON':
    case 'LATEST':
    case 'SHARD_END':
      return { type: value };
    case 'AT_TIMESTAMP':
      return { type: 'AT_TIMESTAMP', timestamp: new Date(Number(item.checkpointTimestamp ?? 0)) };
    default:
      return {
        type: 'SEQUENCE',
        position: { sequenceNumber: String(value), subSequenceNumber: Number(item.checkpointSubSequence ?? 0) },
      };
  }
}

export function newLeaseItem(namespace: string, lease: NewLease, now: number): Item {
  return {
    [PARTITION_KEY]: namespace,
    [SORT_KEY]: leaseItemKey(lease.shardId),
    kind: 'lease',
    shardId: lease.shardId,
    leaseCounter: 0,
    ...encodeCheckpoint(lease.checkpoint),
    parentShardIds: [...(lease.parentShardIds ?? [])],
    childShardIds: [],
    ...(lease.hashKeyRange ? { hashKeyStart: lease.hashKeyRange.startingHashKey, hashKeyEnd: lease.hashKeyRange.endingHashKey } : {}),
    createdAt: now,
  };
}

export function decodeLease(item: Item): Lease {
  const itemKey = String(item[SORT_KEY]);
  return {
    namespace: String(item[PARTITION_KEY]),
    leaseKey: itemKey.slice(LEASE_PREFIX.length),
    shardId: String(item.shardId),
    leaseOwner: typeof item.leaseOwner === 'string' ? item.leaseOwner : undefined,
    leaseCounter: Number(item.leaseCounter ?? 0),
    checkpoint: decodeCheckpoint(item),
    parentShardIds: stringList(item.parentShardIds),
    childShardIds: stringList(item.childShardIds),
    hashKeyRange:
      typeof item.hashKeyStart === 'string' && typeof item.hashKeyEnd === 'string'
        ? { startingHashKey: item.hashKeyStart, endingHashKey: item.hashKeyEnd }
        : undefined,
    pendingOwner: typeof item.pendingOwner === 'string' ? item.pendingOwner : undefined,
    checkpointedAt: typeof item.checkpointedAt === 'number' ? item.checkpointedAt : undefined,
  };
}

export function decodeWorker(item: Item): WorkerRecord {
  return {
    namespace: String(item[PARTITION_KEY]),
    workerId: String(item.workerId),
    heartbeat: Number(item.heartbeat ?? 0),
    status: (item.status === 'leaving' ? 'leaving' : 'active') satisfies WorkerStatus,
    liveness: (item.liveness === 'nats' ? 'nats' : 'table') satisfies WorkerLivenessMode,
    grantTerm: typeof item.grantTerm === 'number' ? item.grantTerm : undefined,
    startedAt: Number(item.startedAt ?? 0),
    host: typeof item.host === 'string' ? item.host : undefined,
  };
}

export function decodeLeadership(item: Item): LeadershipRecord {
  return {
    namespace: String(item[PARTITION_KEY]),
    leaderId: typeof item.leaderId === 'string' ? item.leaderId : undefined,
    term: Number(item.term ?? 0),
    heartbeat: Number(item.heartbeat ?? 0),
  };
}

export function isLeadershipItem(item: Item): boolean {
  return item[SORT_KEY] === LEADERSHIP_ITEM_KEY;
}

export function isLeaseItem(item: Item): boolean {
  return String(item[SORT_KEY]).startsWith(LEASE_PREFIX);
}

export function isWorkerItem(item: Item): boolean {
  return String(item[SORT_KEY]).startsWith(WORKER_PREFIX);
}

function stringList(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (value instanceof Set) return [...value].map(String);
  return [];
}
