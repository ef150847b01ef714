import type { Lease, LeaseOwnership } from '@shoal/coordinator';
import type { Checkpoint, KinesisRecord } from '@shoal/processor-sdk';

const ARRIVAL = new Date('2024-05-06T07:08:09.010Z');

/**
 * A decimal sequence number of the length Kinesis uses (56 digits), so ordering by length and
 * then by digits behaves as it does for real ones. `n` orders them.
 */
export function sequenceNumber(n: number): string {
  return `4959033827149025660855969253836157109592157598${String(n).padStart(10, '0')}`;
}

/** A plain (not aggregated) user record at position `n`. */
export function userRecord(n: number, partitionKey = `key-${n}`): KinesisRecord {
  return {
    data: new TextEncoder().encode(`record-${n}`),
    partitionKey,
    sequenceNumber: sequenceNumber(n),
    subSequenceNumber: 0,
    approximateArrivalTimestamp: ARRIVAL,
    aggregated: false,
  };
}

/** The user records a KPL aggregate at position `n` holding `count` of them yields. */
export function aggregatedUserRecords(n: number, count: number): KinesisRecord[] {
  return Array.from({ length: count }, (_, sub) => ({
    data: new TextEncoder().encode(`record-${n}.${sub}`),
    partitionKey: `key-${n}.${sub}`,
    sequenceNumber: sequenceNumber(n),
    subSequenceNumber: sub,
    approximateArrivalTimestamp: ARRIVAL,
    aggregated: true,
  }));
}

/** A checkpoint at `n` (and sub-sequence `sub`). */
export function sequenceCheckpoint(n: number, sub = 0): Checkpoint {
  return { type: 'SEQUENCE', position: { sequenceNumber: sequenceNumber(n), subSequenceNumber: sub } };
}

let leaseIds = 0;

/** A lease with a shard id no other test uses. */
export function testLease(overrides: Partial<Lease> = {}): Lease {
  leaseIds += 1;
  const shardId = overrides.shardId ?? `shardId-${String(leaseIds).padStart(12, '0')}`;
  return {
    namespace: 'unit-app/unit-stream',
    leaseKey: shardId,
    shardId,
    streamName: undefined,
    leaseOwner: undefined,
    leaseCounter: 1,
    checkpoint: { type: 'TRIM_HORIZON' },
    parentShardIds: [],
    childShardIds: [],
    hashKeyRange: undefined,
    pendingOwner: undefined,
    checkpointedAt: undefined,
    ...overrides,
  };
}

export function ownershipOf(lease: Lease, owner = lease.leaseOwner ?? 'worker-a'): LeaseOwnership {
  return { namespace: lease.namespace, leaseKey: lease.leaseKey, leaseOwner: owner, leaseCounter: lease.leaseCounter };
}

/**
 * A checkpoint as the lease table keeps it: only the sequence and sub-sequence number. (A bare
 * `checkpoint()` passes the delivered record itself as the position.)
 */
export function asStored(checkpoint: Checkpoint): Checkpoint {
  if (checkpoint.type !== 'SEQUENCE') return checkpoint;
  const { sequenceNumber, subSequenceNumber } = checkpoint.position;
  return { type: 'SEQUENCE', position: { sequenceNumber, subSequenceNumber } };
}
