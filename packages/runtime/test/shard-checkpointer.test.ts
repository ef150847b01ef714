import type { Lease } from '@shoal/coordinator';
import { InvalidArgumentError, InvalidCheckpointError, LeaseLostError, type Checkpoint, type KinesisRecord } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { ShardCheckpointer } from '../src/consumer/shard-checkpointer.js';
import { InMemoryLeaseStore } from './fakes/fake-lease-store.js';
import {
  aggregatedUserRecords,
  asStored,
  ownershipOf,
  sequenceCheckpoint,
  sequenceNumber,
  testLease,
  userRecord,
} from './fakes/records.js';

interface Setup {
  readonly store: InMemoryLeaseStore;
  readonly checkpointer: ShardCheckpointer;
  readonly reported: Checkpoint[];
}

function setUp(checkpoint: Checkpoint = { type: 'TRIM_HORIZON' }): Setup {
  const lease: Lease = testLease({ leaseOwner: 'worker-a', leaseCounter: 4, checkpoint });
  const store = new InMemoryLeaseStore(lease);
  const reported: Checkpoint[] = [];
  const checkpointer = new ShardCheckpointer({
    store,
    ownership: ownershipOf(lease),
    checkpoint,
    onCheckpoint: (written) => reported.push(written),
  });
  return { store, checkpointer, reported };
}

/** What the shard consumer does before handing a batch to `processRecords`. */
function deliverBatch(checkpointer: ShardCheckpointer, records: readonly KinesisRecord[]): void {
  const last = records[records.length - 1]!;
  checkpointer.delivered(last);
  checkpointer.setDefaultTarget({ type: 'position', position: last });
}

describe('ShardCheckpointer: where a checkpoint lands', () => {
  it('checkpoints the last record of the batch for a bare checkpoint()', async () => {
    const { store, checkpointer, reported } = setUp();
    deliverBatch(checkpointer, [userRecord(1), userRecord(2), userRecord(3)]);
    await checkpointer.checkpoint();
    expect(store.written).toEqual([sequenceCheckpoint(3)]);
    expect(asStored(checkpointer.checkpointed)).toEqual(sequenceCheckpoint(3));
    expect(reported.map(asStored)).toEqual([sequenceCheckpoint(3)]);
  });

  it('checkpoints at a record it is given', async () => {
    const { store, checkpointer } = setUp();
    const batch = aggregatedUserRecords(5, 3);
    deliverBatch(checkpointer, batch);
    await checkpointer.checkpoint(batch[1]!);
    expect(store.written).toEqual([sequenceCheckpoint(5, 1)]);
  });

  it('checkpoints at an explicit sequence and sub-sequence number', async () => {
    const { store, checkpointer } = setUp();
    deliverBatch(checkpointer, [...aggregatedUserRecords(5, 3), userRecord(6)]);
    await checkpointer.checkpoint(sequenceNumber(5), 2);
    await checkpointer.checkpoint(sequenceNumber(6), 0);
    expect(store.written).toEqual([sequenceCheckpoint(5, 2), sequenceCheckpoint(6, 0)]);
  });

  it('treats a bare sequence number of the last aggregate as its last user record delivered', async () => {
    const { store, checkpointer } = setUp();
    deliverBatch(checkpointer, aggregatedUserRecords(5, 3));
    await checkpointer.checkpoint(sequenceNumber(5));
    expect(store.written).toEqual([sequenceCheckpoint(5, 2)]);
  });

  it('treats a bare sequence number of an earlier aggregate as the whole aggregate', async () => {
    const { store, checkpointer } = setUp();
    deliverBatch(checkpointer, [...aggregatedUserRecords(5, 3), userRecord(6)]);
    await checkpointer.checkpoint(sequenceNumber(5));
    expect(store.written).toEqual([sequenceCheckpoint(5, Number.MAX_SAFE_INTEGER)]);
    // Past every user record of aggregate 5, before record 6.
    await expect(checkpointer.checkpoint(sequenceNumber(5), 2)).rejects.toBeInstanceOf(InvalidCheckpointError);
    await checkpointer.checkpoint(userRecord(6));
    expect(store.written).toHaveLength(2);
  });

  it('writes SHARD_END for a bare checkpoint() when the default target is the end of the shard', async () => {
    const { store, checkpointer } = setUp(sequenceCheckpoint(9));
    checkpointer.setDefaultTarget({ type: 'shard-end' });
    await checkpointer.checkpoint();
    expect(store.written).toEqual([{ type: 'SHARD_END' }]);
    expect(checkpointer.checkpointed).toEqual({ type: 'SHARD_END' });
  });

  it('writes a position only once when a bare checkpoint() repeats it', async () => {
    const { store, checkpointer } = setUp();
    const batch = [userRecord(1), userRecord(2)];
    deliverBatch(checkpointer, batch);
    await checkpointer.checkpoint();
    await checkpointer.checkpoint();
    expect(store.written).toEqual([sequenceCheckpoint(2)]);

    // Also after an explicit checkpoint at the same record, as processRecords then shutdownRequested would.
    deliverBatch(checkpointer, [userRecord(3)]);
    await checkpointer.checkpoint(userRecord(3));
    await checkpointer.checkpoint();
    expect(store.written).toEqual([sequenceCheckpoint(2), sequenceCheckpoint(3)]);
    expect(store.attempts).toBe(2);
  });

  it('does nothing for a bare checkpoint() whose default lies behind the current checkpoint', async () => {
    const { store, checkpointer } = setUp(sequenceCheckpoint(7));
    deliverBatch(checkpointer, [userRecord(8), userRecord(9)]);
    await checkpointer.checkpoint(userRecord(9));
    checkpointer.setDefaultTarget({ type: 'position', position: userRecord(8) });
    await checkpointer.checkpoint();
    expect(store.written).toEqual([sequenceCheckpoint(9)]);
    expect(asStored(checkpointer.checkpointed)).toEqual(sequenceCheckpoint(9));
  });

  it('does nothing for a bare checkpoint() before any record was delivered', async () => {
    const { store, checkpointer } = setUp();
    await checkpointer.checkpoint();
    expect(store.attempts).toBe(0);
  });
});

describe('ShardCheckpointer: validation', () => {
  it('rejects a position past the last record delivered', async () => {
    const { store, checkpointer } = setUp();
    deliverBatch(checkpointer, [userRecord(1), userRecord(2)]);
    await expect(checkpointer.checkpoint(userRecord(3))).rejects.toBeInstanceOf(InvalidCheckpointError);
    await expect(checkpointer.checkpoint(sequenceNumber(2), 1)).rejects.toBeInstanceOf(InvalidCheckpointError);
    expect(store.attempts).toBe(0);
  });

  it('rejects any position when nothing was delivered yet', async () => {
    const { store, checkpointer } = setUp();
    await expect(checkpointer.checkpoint(sequenceNumber(1), 0)).rejects.toBeInstanceOf(InvalidCheckpointError);
    expect(store.attempts).toBe(0);
  });

  it('rejects a position before the current checkpoint', async () => {
    const { store, checkpointer } = setUp(sequenceCheckpoint(4));
    deliverBatch(checkpointer, [userRecord(5), userRecord(6)]);
    await expect(checkpointer.checkpoint(userRecord(3))).rejects.toThrow(/before the current checkpoint/);
    await expect(checkpointer.checkpoint(sequenceNumber(3))).rejects.toBeInstanceOf(InvalidCheckpointError);
    expect(store.attempts).toBe(0);
  });

  it('rejects a position once the shard is finished', async () => {
    const { store, checkpointer } = setUp({ type: 'SHARD_END' });
    deliverBatch(checkpointer, [userRecord(1)]);
    await expect(checkpointer.checkpoint(userRecord(1))).rejects.toThrow(/finished/);
    expect(store.attempts).toBe(0);
  });

  it('rejects a malformed sequence number or sub-sequence number as an invalid argument', async () => {
    const { store, checkpointer } = setUp();
    deliverBatch(checkpointer, [userRecord(1)]);
    await expect(checkpointer.checkpoint('not-a-number')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(checkpointer.checkpoint('')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(checkpointer.checkpoint(sequenceNumber(1), -1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(checkpointer.checkpoint(sequenceNumber(1), 0.5)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(store.attempts).toBe(0);
  });
});

describe('ShardCheckpointer: fencing', () => {
  it('turns a conflicting write into LeaseLostError and remembers the lease is lost', async () => {
    const { store, checkpointer, reported } = setUp();
    deliverBatch(checkpointer, [userRecord(1)]);
    store.moveToAnotherOwner();

    await expect(checkpointer.checkpoint()).rejects.toBeInstanceOf(LeaseLostError);
    expect(checkpointer.lost).toBe(true);
    expect(checkpointer.checkpointed).toEqual({ type: 'TRIM_HORIZON' });
    expect(reported).toEqual([]);
    expect(store.attempts).toBe(1);
  });

  it('refuses every later checkpoint without writing once the lease is lost', async () => {
    const { store, checkpointer } = setUp();
    deliverBatch(checkpointer, [userRecord(1), userRecord(2)]);
    store.moveToAnotherOwner();
    await expect(checkpointer.checkpoint(userRecord(1))).rejects.toBeInstanceOf(LeaseLostError);

    await expect(checkpointer.checkpoint(userRecord(2))).rejects.toBeInstanceOf(LeaseLostError);
    await expect(checkpointer.checkpoint()).rejects.toBeInstanceOf(LeaseLostError);
    checkpointer.setDefaultTarget({ type: 'shard-end' });
    await expect(checkpointer.checkpoint()).rejects.toBeInstanceOf(LeaseLostError);
    expect(store.attempts).toBe(1);
    expect(store.written).toEqual([]);
  });

  it('writes on the ownership it was created with', async () => {
    const { store, checkpointer } = setUp();
    deliverBatch(checkpointer, [userRecord(1)]);
    await checkpointer.checkpoint();
    expect(store.lease.checkpoint).toEqual(sequenceCheckpoint(1));
    expect(store.lease.leaseOwner).toBe('worker-a');
  });
});

describe('ShardCheckpointer: a slow write and the lease’s stop signal', () => {
  it('stops waiting for a write in flight once the lease must stop, and later writes still wait for it', async () => {
    const lease: Lease = testLease({ leaseOwner: 'worker-a', leaseCounter: 4 });
    const store = new InMemoryLeaseStore(lease);
    let answer: (() => void) | undefined;
    const slowStore = Object.assign(Object.create(store) as InMemoryLeaseStore, {
      checkpoint: async (...args: Parameters<InMemoryLeaseStore['checkpoint']>) => {
        if (!answer) await new Promise<void>((resolve) => (answer = resolve));
        return store.checkpoint(...args);
      },
    });
    let stop = new AbortController();
    const checkpointer = new ShardCheckpointer({
      store: slowStore,
      ownership: ownershipOf(lease),
      checkpoint: { type: 'TRIM_HORIZON' },
      stopSignal: () => ({ signal: stop.signal, close: () => {} }),
    });
    deliverBatch(checkpointer, [userRecord(1), userRecord(2)]);
    const first = checkpointer.checkpoint(userRecord(1));
    await new Promise((resolve) => setImmediate(resolve));
    stop.abort();
    await expect(first).rejects.toBeInstanceOf(LeaseLostError);

    // Liveness confirmed again: the next write waits for the abandoned one, so it never lands first.
    stop = new AbortController();
    const second = checkpointer.checkpoint(userRecord(2));
    answer!();
    await second;
    expect(store.written).toEqual([sequenceCheckpoint(1), sequenceCheckpoint(2)]);
  });
});
