import { describe, expect, it } from 'vitest';
import type { LeaseStateSnapshot } from '@shoal/coordinator';
import { formatAge, renderFleetTable, summarizeFleet, type FleetState } from '../src/index.js';

const NOW = 1_700_000_000_000;

function lease(shardId: string, state: string, extra: Partial<LeaseStateSnapshot> = {}): LeaseStateSnapshot {
  return { application: 'billing', streamName: 'orders', leaseKey: shardId, shardId, workerId: 'worker-a', state, at: NOW, ...extra };
}

function fleet(...leases: LeaseStateSnapshot[]): FleetState {
  return new Map(leases.map((l) => [`${l.streamName}.${l.leaseKey}`, l]));
}

describe('renderFleetTable', () => {
  it('prints one aligned row per lease, sorted by shard id, and a summary', () => {
    const states = fleet(
      lease('shardId-000000000002', 'ended', {
        reason: 'shard-end',
        workerId: 'worker-b',
        leaseCounter: 4,
        checkpoint: 'SHARD_END',
        at: NOW - 65_000,
      }),
      lease('shardId-000000000000', 'owned.processing', {
        leaseCounter: 12,
        checkpoint: '49590338271490256608559692538361571095921575989136588898',
        at: NOW - 1_250,
      }),
      lease('shardId-000000000001', 'pending', { workerId: 'worker-b', at: NOW - 40 }),
    );
    expect(renderFleetTable(states, NOW)).toEqual([
      'SHARD                 STATE              OWNER     COUNTER  CHECKPOINT                                                AGE',
      'shardId-000000000000  owned.processing   worker-a  12       49590338271490256608559692538361571095921575989136588898  1.2s',
      'shardId-000000000001  pending            worker-b  -        -                                                         40ms',
      'shardId-000000000002  ended (shard-end)  worker-b  4        SHARD_END                                                 1m05s',
      '3 leases | workers: worker-a=1 worker-b=1 | states: ended=1 owned.processing=1 pending=1',
    ]);
  });

  it('prints a header and a zero summary for an empty fleet', () => {
    expect(renderFleetTable(new Map(), NOW)).toEqual([
      'SHARD  STATE  OWNER  COUNTER  CHECKPOINT  AGE',
      '0 leases | workers: none | states: none',
    ]);
  });

  it('adds a stream column when the leases span several streams', () => {
    const states = fleet(
      lease('shardId-000000000000', 'owned.processing', { streamName: 'payments' }),
      lease('shardId-000000000000', 'draining'),
    );
    expect(renderFleetTable(states, NOW)).toEqual([
      'STREAM    SHARD                 STATE             OWNER     COUNTER  CHECKPOINT  AGE',
      'orders    shardId-000000000000  draining          worker-a  -        -           0ms',
      'payments  shardId-000000000000  owned.processing  worker-a  -        -           0ms',
      '2 leases | workers: worker-a=2 | states: draining=1 owned.processing=1',
    ]);
  });
});

describe('summarizeFleet', () => {
  it('counts leases per worker, leaving out ended and stolen ones, and per state', () => {
    const states = fleet(
      lease('s-1', 'owned.processing'),
      lease('s-2', 'owned.backoff'),
      lease('s-3', 'draining', { workerId: 'worker-b' }),
      lease('s-4', 'stolen', { workerId: 'worker-c' }),
      lease('s-5', 'ended', { workerId: 'worker-c', reason: 'handed-off' }),
    );
    expect(summarizeFleet(states)).toEqual({
      leases: 5,
      workers: { 'worker-a': 2, 'worker-b': 1 },
      states: { draining: 1, ended: 1, 'owned.backoff': 1, 'owned.processing': 1, stolen: 1 },
    });
  });
});

describe('formatAge', () => {
  it.each([
    [-500, '0ms'],
    [999, '999ms'],
    [1_000, '1.0s'],
    [59_999, '59.9s'],
    [60_000, '1m00s'],
    [3_599_000, '59m59s'],
    [3_600_000, '1h00m'],
    [86_399_999, '23h59m'],
    [90_000_000, '1d01h'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });
});
