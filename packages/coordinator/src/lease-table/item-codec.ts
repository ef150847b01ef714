import type { Checkpoint } from '@shoal/processor-sdk';
import {
  newLeaseKey,
  type Lease,
  type LeadershipRecord,
  type NewLease,
  type WorkerLivenessMode,
  type WorkerRecord,
  type WorkerStatus,
} from './lease.js';

/**
 * How leases and worker records map onto DynamoDB items. See docs/lease-table.md for the schema.
 * One table can hold many applications: the partition key is the namespace
 * (`<application>/<stream>`, or `<application>` when it consumes several streams), the sort key
 * says what the item is.
 */
export const PARTITION_KEY = 'namespace';
export const SORT_KEY = 'itemKey';

const LEASE_PREFIX = 'lease#';
const WORKER_PREFIX = 'worker#';
/**
 * The global secondary index that lists a worker's leases: partition key `leaseOwner`, sort key
 * the namespace, projecting only what shows a change (the epoch and a handoff request), so
 * checkpoint writes never touch it. Only owned lease rows carry `leaseOwner`: the index is sparse.
 */
export const OWNER_INDEX_NAME = 'shoal-lease-owner';
export const OWNER_INDEX_PROJECTED = ['leaseCounter', 'pendingOwner'] as const;
/** One leadership row per namespace. */
export const LEADERSHIP_ITEM_KEY = 'leader';

export const leaseItemKey = (leaseKey: string): string => `${LEASE_PREFIX}${leaseKey}`;
export const workerItemKey = (workerId: string): string => `${WORKER_PREFIX}${workerId}`;
/** The lease key of a lease row's sort key. */
export const leaseKeyOf = (itemKey: string): string => itemKey.slice(LEASE_PREFIX.length);

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
    [SORT_KEY]: leaseItemKey(newLeaseKey(lease)),
    kind: 'lease',
    shardId: lease.shardId,
    ...(lease.streamName === undefined ? {} : { streamName: lease.streamName }),
    leaseCounter: 0,
    ...encodeCheckpoint(lease.checkpoint),
    parentShardIds: [...(lease.parentShardIds ?? [])],
    childShardIds: [],
    ...(lease.hashKeyRange ? { hashKeyStart: lease.hashKeyRange.startingHashKey, hashKeyEnd: lease.hashKeyRange.endingHashKey } : {}),
    createdAt: now,
  };
}

export function decodeLease(item: Item): Lease {
  const problem = leaseItemProblem(item);
  if (problem !== undefined) throw new MalformedItemError(String(item[SORT_KEY]), problem);
  const itemKey = String(item[SORT_KEY]);
  return {
    namespace: String(item[PARTITION_KEY]),
    leaseKey: leaseKeyOf(itemKey),
    shardId: String(item.shardId),
    streamName: typeof item.streamName === 'string' ? item.streamName : undefined,
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

/** A lease row Shoal cannot use as it is (written by hand, or by something else): which field, and what is wrong. */
export class MalformedItemError extends Error {
  override readonly name = 'MalformedItemError';
  constructor(
    readonly itemKey: string,
    readonly problem: string,
  ) {
    super(`lease row ${itemKey} is malformed: ${problem}`);
  }
}

const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/u;
const CHECKPOINT_WORDS = new Set(['TRIM_HORIZON', 'LATEST', 'SHARD_END', 'AT_TIMESTAMP']);

/** The first field of a lease row that Shoal could not trust, described; undefined when the row is sound. */
export function leaseItemProblem(item: Item): string | undefined {
  const optionalString = (field: string) => item[field] === undefined || typeof item[field] === 'string';
  const isWholeNumber = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value >= 0;
  const got = (field: string) => `got ${JSON.stringify(item[field]) ?? 'nothing'}`;
  if (typeof item.shardId !== 'string' || item.shardId === '') return `shardId: expected a shard id, ${got('shardId')}`;
  // Shard ids and stream names never hold a `:`, so a qualified key names one stream and shard only.
  if (item.shardId.includes(':')) return `shardId: expected a shard id, ${got('shardId')}`;
  if (item.streamName !== undefined && !(typeof item.streamName === 'string' && STREAM_NAME.test(item.streamName))) {
    return `streamName: expected a stream name, ${got('streamName')}`;
  }
  const expectedKey = newLeaseKey({ shardId: item.shardId, streamName: item.streamName as string | undefined });
  if (typeof item[SORT_KEY] === 'string' && leaseKeyOf(item[SORT_KEY]) !== expectedKey) {
    return `itemKey: expected ${leaseItemKey(expectedKey)} for shard ${item.shardId}${item.streamName === undefined ? '' : ` of stream ${String(item.streamName)}`}, ${got(SORT_KEY)}`;
  }
  if (!isWholeNumber(item.leaseCounter)) return `leaseCounter: expected a whole number, ${got('leaseCounter')}`;
  const checkpoint = item.checkpoint;
  if (typeof checkpoint !== 'string' || !(CHECKPOINT_WORDS.has(checkpoint) || /^\d{1,128}$/.test(checkpoint))) {
    return `checkpoint: expected a sequence number, TRIM_HORIZON, LATEST, AT_TIMESTAMP or SHARD_END, ${got('checkpoint')}`;
  }
  if (item.checkpointSubSequence !== undefined && !isWholeNumber(item.checkpointSubSequence)) {
    return `checkpointSubSequence: expected a whole number, ${got('checkpointSubSequence')}`;
  }
  if (checkpoint === 'AT_TIMESTAMP' && typeof item.checkpointTimestamp !== 'number') {
    return `checkpointTimestamp: expected epoch milliseconds for an AT_TIMESTAMP checkpoint, ${got('checkpointTimestamp')}`;
  }
  if (!optionalString('leaseOwner')) return `leaseOwner: expected a worker id, ${got('leaseOwner')}`;
  if (!optionalString('pendingOwner')) return `pendingOwner: expected a worker id, ${got('pendingOwner')}`;
  for (const field of ['parentShardIds', 'childShardIds']) {
    const value = item[field];
    const list = value instanceof Set ? [...value] : value;
    if (value !== undefined && !(Array.isArray(list) && list.every((id) => typeof id === 'string'))) {
      return `${field}: expected a list of shard ids, ${got(field)}`;
    }
  }
  return undefined;
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
    ...(typeof item.fleetKey === 'string' ? { fleetKey: item.fleetKey } : {}),
    ...decodeWorkerStreams(item.streams),
    ...(item.ownPlanSubject === true ? { ownPlanSubject: true } : {}),
  };
}

/**
 * A record's streams. A value that is not a list of names reads as an empty list: a planner then
 * hands that worker nothing rather than leases it may not run.
 */
function decodeWorkerStreams(value: unknown): { readonly streams?: readonly string[] } {
  if (value === undefined || value === null) return {};
  return { streams: Array.isArray(value) && value.every((name) => typeof name === 'string') ? (value as string[]) : [] };
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
