import { OwnershipTracker, type Lease } from '@shoal/coordinator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planFleet } from '../src/fleet/fleet-plan.js';
import { StreamEligibility, type PlannerStreams } from '../src/fleet/stream-eligibility.js';
import { workerRecord } from './fakes/fleet.js';
import { testLease } from './fakes/records.js';

/** A planner that consumes `listed` and whose own choice names `chosen`. */
function plannerOf(listed: readonly string[], chosen: readonly string[] = listed): PlannerStreams {
  return {
    consumes: (lease) => lease.streamName !== undefined && listed.includes(lease.streamName),
    selects: (name) => chosen.includes(name),
  };
}

function leaseOf(streamName: string, n: number, leaseOwner?: string): Lease {
  const shardId = `shardId-${String(n).padStart(12, '0')}`;
  return testLease({ namespace: 'app', streamName, shardId, leaseKey: `${streamName}:${shardId}`, leaseOwner });
}

function plan(records: ReturnType<typeof workerRecord>[], leases: Lease[], planner: PlannerStreams, maxLeasesPerWorker?: number) {
  return planFleet({
    snapshot: { workers: records, leases, leadership: undefined },
    isAlive: () => true,
    ownerships: new OwnershipTracker(15_000, () => 0),
    maxLeasesPerWorker,
    streams: planner,
  });
}

/** Where each lease ends up once the plan is carried out. */
function assignees(leases: readonly Lease[], moves: readonly { leaseKey: string; to: string }[]): Map<string, string | undefined> {
  const result = new Map(leases.map((lease) => [lease.leaseKey, lease.leaseOwner]));
  for (const move of moves) result.set(move.leaseKey, move.to);
  return result;
}

describe('StreamEligibility', () => {
  it('trusts a record’s list, and the planner’s own listing for the streams its choice names', () => {
    const workers = [
      workerRecord('lists-added', { streams: ['orders', 'added'] }),
      workerRecord('lists-gone', { streams: ['orders', 'gone'] }),
      workerRecord('unstated'),
    ];
    // The planner chose orders and gone, and its last listing found only orders (gone was deleted).
    const eligibility = new StreamEligibility(workers, plannerOf(['orders'], ['orders', 'gone']));
    expect(eligibility.eligible({ streamName: 'orders' })).toBe('everyone');
    expect(eligibility.eligible({ streamName: 'gone' })).toEqual(new Set());
    expect(eligibility.eligible({ streamName: 'added' })).toEqual(new Set(['lists-added']));
    expect(eligibility.eligible({ streamName: 'other' })).toEqual(new Set());
    expect(eligibility.anyone({ streamName: 'gone' })).toBe(false);
  });
});

describe('planning over workers that consume different streams', () => {
  it('hands a lease only to a worker that consumes its stream, and stays put once there', () => {
    const records = [workerRecord('old', { streams: ['a'] }), workerRecord('new', { streams: ['a', 'b'] })];
    const leases = [leaseOf('a', 0), leaseOf('a', 1), leaseOf('b', 0), leaseOf('b', 1)];
    // Planned by the old worker, which does not list b.
    const first = plan(records, leases, plannerOf(['a']));
    const owners = assignees(leases, first.moves);
    expect(owners.get('b:shardId-000000000000')).toBe('new');
    expect(owners.get('b:shardId-000000000001')).toBe('new');
    expect([owners.get('a:shardId-000000000000'), owners.get('a:shardId-000000000001')]).toEqual(['old', 'old']);
    // Carried out, the plan is stable: nothing moves again.
    const settled = leases.map((lease) => ({ ...lease, leaseOwner: owners.get(lease.leaseKey) }));
    expect(plan(records, settled, plannerOf(['a'])).moves).toEqual([]);
    expect(plan(records, settled, plannerOf(['a', 'b'])).moves).toEqual([]);
  });

  it('moves a lease off a worker that no longer consumes its stream', () => {
    const records = [workerRecord('dropped-b', { streams: ['a'] }), workerRecord('keeps-b', { streams: ['a', 'b'] })];
    const leases = [leaseOf('a', 0, 'dropped-b'), leaseOf('b', 0, 'dropped-b')];
    const { moves } = plan(records, leases, plannerOf(['a', 'b']));
    expect(moves).toContainEqual(
      expect.objectContaining({ leaseKey: 'b:shardId-000000000000', from: 'dropped-b', to: 'keeps-b', kind: 'handoff' }),
    );
    expect(assignees(leases, moves).get('b:shardId-000000000000')).toBe('keeps-b');
  });

  it('plans nothing for a lease nobody consumes, and respects the per-worker cap', () => {
    const records = [workerRecord('w1', { streams: ['a'] }), workerRecord('w2', { streams: ['a', 'b'] })];
    const leases = [leaseOf('a', 0), leaseOf('b', 0), leaseOf('b', 1), leaseOf('c', 0)];
    const { moves } = plan(records, leases, plannerOf(['a', 'b', 'c']), 1);
    expect(moves.map((move) => move.leaseKey)).not.toContain('c:shardId-000000000000');
    const perWorker = new Map<string, number>();
    for (const move of moves) perWorker.set(move.to, (perWorker.get(move.to) ?? 0) + 1);
    for (const count of perWorker.values()) expect(count).toBeLessThanOrEqual(1);
    for (const move of moves) if (move.leaseKey.startsWith('b:')) expect(move.to).toBe('w2');
  });

  it('keeps a balanced placement among the only workers that may run the leases: nothing moves', () => {
    const records = [
      workerRecord('A', { streams: ['a', 'b'] }),
      workerRecord('B', { streams: ['a', 'b'] }),
      workerRecord('C', { streams: ['a'] }),
    ];
    const leases = Array.from({ length: 6 }, (_, n) => leaseOf('b', n, n < 3 ? 'B' : 'A'));
    expect(plan(records, leases, plannerOf(['a', 'b'])).moves).toEqual([]);
  });

  it('makes room under the per-worker cap: a worker full of leases others may run passes one on', () => {
    const records = [workerRecord('A', { streams: ['a', 'b'] }), workerRecord('B', { streams: ['a'] })];
    const leases = [leaseOf('a', 0, 'A'), leaseOf('b', 0)];
    const owners = assignees(leases, plan(records, leases, plannerOf(['a', 'b']), 1).moves);
    expect(Object.fromEntries(owners)).toEqual({ 'a:shardId-000000000000': 'B', 'b:shardId-000000000000': 'A' });
  });

  it('settles: once a plan is carried out, the next plans move nothing, and no worker goes above the cap', () => {
    const streams = ['a', 'b', 'c'];
    fc.assert(
      fc.property(
        fc.array(fc.subarray(streams, { minLength: 1 }), { minLength: 2, maxLength: 4 }),
        fc.array(fc.record({ stream: fc.constantFrom(...streams), owner: fc.option(fc.nat(3), { nil: undefined }) }), { maxLength: 16 }),
        fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
        (selections, rows, cap) => {
          const records = selections.map((chosen, i) => workerRecord(`w${i}`, { streams: chosen }));
          let leases = rows.map((row, n) =>
            leaseOf(row.stream, n, row.owner === undefined || row.owner >= records.length ? undefined : `w${row.owner}`),
          );
          // From a fleet within the cap (an owner keeps a lease beyond it that nobody else may take).
          const held = new Map<string, number>();
          for (const lease of leases) if (lease.leaseOwner) held.set(lease.leaseOwner, (held.get(lease.leaseOwner) ?? 0) + 1);
          fc.pre(cap === undefined || [...held.values()].every((count) => count <= cap));
          for (let round = 0; round < 3; round += 1) {
            const owners = assignees(leases, plan(records, leases, plannerOf(streams), cap).moves);
            if (cap !== undefined) {
              // Leases a worker may run, counted per worker (one it may not run it gives back).
              const perWorker = new Map<string, number>();
              for (const lease of leases) {
                const owner = owners.get(lease.leaseKey);
                const mayRun = records.find((record) => record.workerId === owner)?.streams?.includes(lease.streamName!);
                if (owner !== undefined && mayRun) perWorker.set(owner, (perWorker.get(owner) ?? 0) + 1);
              }
              for (const count of perWorker.values()) expect(count).toBeLessThanOrEqual(cap);
            }
            leases = leases.map((lease) => ({ ...lease, leaseOwner: owners.get(lease.leaseKey) }));
          }
          expect(plan(records, leases, plannerOf(streams), cap).moves).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never plans a lease to a worker that does not consume its stream, whatever the records and owners', () => {
    const streams = ['a', 'b', 'c'];
    fc.assert(
      fc.property(
        fc.array(fc.subarray(streams), { minLength: 1, maxLength: 5 }),
        fc.array(fc.record({ stream: fc.constantFrom(...streams), owner: fc.option(fc.nat(5), { nil: undefined }) }), { maxLength: 30 }),
        fc.subarray(streams),
        (selections, rows, plannerList) => {
          const records = selections.map((chosen, i) => workerRecord(`w${i}`, { streams: chosen }));
          const leases = rows.map((row, n) => leaseOf(row.stream, n, row.owner === undefined ? undefined : `w${row.owner}`));
          const { moves } = plan(records, leases, plannerOf(plannerList));
          const consumers = (stream: string) => records.filter((record) => record.streams?.includes(stream));
          for (const move of moves) {
            const stream = move.leaseKey.split(':')[0]!;
            expect(consumers(stream).map((record) => record.workerId)).toContain(move.to);
          }
          // Every lease some worker consumes ends with one of them.
          const owners = assignees(leases, moves);
          for (const lease of leases) {
            const allowed = consumers(lease.streamName!).map((record) => record.workerId);
            if (allowed.length > 0) expect(allowed).toContain(owners.get(lease.leaseKey));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
