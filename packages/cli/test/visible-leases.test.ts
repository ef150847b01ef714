import { LEASE_STATE_MAX_AGE_MS, type LeaseStateSnapshot } from '@shoal/coordinator';
import { describe, expect, it } from 'vitest';
import { LET_GO_SHOWN_MS, visibleLeases } from '../src/watch-command.js';

const NOW = 1_800_000_000_000;

function entry(shardId: string, state: string, ageMs: number, streamName = 'orders'): [string, LeaseStateSnapshot] {
  return [
    `${streamName}.${shardId}`,
    { application: 'app', streamName, leaseKey: shardId, shardId, workerId: 'worker-1', state, at: NOW - ageMs },
  ];
}

describe('the leases shoal watch shows', () => {
  const states = new Map([
    entry('shardId-000000000000', 'owned.processing', 30 * 60_000),
    entry('shardId-000000000001', 'ended', 60_000),
    entry('shardId-000000000002', 'ended', LET_GO_SHOWN_MS + 1),
    entry('shardId-000000000003', 'stolen', 2 * LET_GO_SHOWN_MS),
    entry('shardId-000000000004', 'owned.processing', LEASE_STATE_MAX_AGE_MS + 1),
    entry('shardId-000000000005', 'owned.processing', 1_000, 'refunds'),
  ]);
  const shown = (options: { stream?: string; all?: boolean }) =>
    [...visibleLeases(states, NOW, options).values()].map((lease) => lease.shardId);

  it('hides leases nobody has held for a while, and entries the bucket has expired', () => {
    expect(shown({})).toEqual(['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000005']);
  });

  it('shows every unexpired lease with all, and one stream’s with stream', () => {
    expect(shown({ all: true })).toEqual([
      'shardId-000000000000',
      'shardId-000000000001',
      'shardId-000000000002',
      'shardId-000000000003',
      'shardId-000000000005',
    ]);
    expect(shown({ stream: 'refunds' })).toEqual(['shardId-000000000005']);
  });
});
