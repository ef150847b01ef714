import type { Lease, ShardInfo } from '@shoal/coordinator';
import type { Checkpoint } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { finishedLeasesToDelete, newLeasesForShards } from '../src/fleet/lease-sync/shard-lineage.js';

function shard(shardId: string, parents: string[] = [], closed = false): ShardInfo {
  return {
    shardId,
    parentShardIds: parents,
    hashKeyRange: { startingHashKey: '0', endingHashKey: '1' },
    startingSequenceNumber: '1',
    endingSequenceNumber: closed ? '9' : undefined,
  };
}

function lease(shardId: string, checkpoint: Checkpoint, parents: string[] = []): Lease {
  return {
    namespace: 'app/stream',
    leaseKey: shardId,
    shardId,
    streamName: undefined,
    leaseOwner: undefined,
    leaseCounter: 0,
    checkpoint,
    parentShardIds: parents,
    childShardIds: [],
    hashKeyRange: undefined,
    pendingOwner: undefined,
    checkpointedAt: undefined,
  };
}

const SEQ: Checkpoint = { type: 'SEQUENCE', position: { sequenceNumber: '5', subSequenceNumber: 0 } };
// p0 was split into c1 and c2; c1 and c2 were merged into m.
const RESHARDED = [shard('m', ['c1', 'c2']), shard('c2', ['p0'], true), shard('c1', ['p0'], true), shard('p0', [], true), shard('other')];

describe('newLeasesForShards', () => {
  it('at TRIM_HORIZON, creates every shard, parents before children', () => {
    const created = newLeasesForShards(RESHARDED, [], { type: 'TRIM_HORIZON' });
    expect(created.map((entry) => entry.shardId)).toEqual(['p0', 'c1', 'c2', 'm', 'other']);
    expect(created.every((entry) => entry.checkpoint.type === 'TRIM_HORIZON')).toBe(true);
    expect(created.find((entry) => entry.shardId === 'm')?.parentShardIds).toEqual(['c1', 'c2']);
  });

  it('at LATEST, starts at the open shards and does not replay closed ancestors', () => {
    const created = newLeasesForShards(RESHARDED, [], { type: 'LATEST' });
    expect(created.map((entry) => [entry.shardId, entry.checkpoint.type])).toEqual([
      ['m', 'LATEST'],
      ['other', 'LATEST'],
    ]);
  });

  it('starts a child of a shard this application reads at TRIM_HORIZON, whatever the initial position', () => {
    const created = newLeasesForShards(RESHARDED, [lease('p0', SEQ), lease('other', SEQ)], { type: 'LATEST' });
    expect(created.map((entry) => [entry.shardId, entry.checkpoint.type])).toEqual([
      ['c1', 'TRIM_HORIZON'],
      ['c2', 'TRIM_HORIZON'],
      ['m', 'TRIM_HORIZON'],
    ]);
  });

  it('never recreates a shard whose descendants have leases (its lease was cleaned up)', () => {
    expect(newLeasesForShards(RESHARDED, [lease('m', SEQ, ['c1', 'c2']), lease('other', SEQ)], { type: 'TRIM_HORIZON' })).toEqual([]);
  });
});

describe('finishedLeasesToDelete', () => {
  const finished = (keys: string[], since = 0) => new Map(keys.map((key) => [key, since]));

  it('deletes a finished parent once every child made progress and the delay passed', () => {
    const leases = [lease('p0', { type: 'SHARD_END' }), lease('c1', SEQ, ['p0']), lease('c2', { type: 'SHARD_END' }, ['p0'])];
    expect(finishedLeasesToDelete(RESHARDED, leases, finished(['p0', 'c2']), 60_000, 60_000).map((entry) => entry.shardId)).toEqual(['p0']);
    expect(finishedLeasesToDelete(RESHARDED, leases, finished(['p0', 'c2']), 59_999, 60_000)).toEqual([]);
  });

  it('keeps a parent while a child has not started, or has no lease yet', () => {
    const waiting = [lease('p0', { type: 'SHARD_END' }), lease('c1', SEQ, ['p0']), lease('c2', { type: 'TRIM_HORIZON' }, ['p0'])];
    expect(finishedLeasesToDelete(RESHARDED, waiting, finished(['p0']), 1e9, 0)).toEqual([]);
    const missing = [lease('p0', { type: 'SHARD_END' }), lease('c1', SEQ, ['p0'])];
    expect(finishedLeasesToDelete(RESHARDED, missing, finished(['p0']), 1e9, 0)).toEqual([]);
  });
});
