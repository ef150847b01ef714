import { OwnershipTracker, type Lease, type WorkerStreamSelection } from '@shoal/coordinator';
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
  it('trusts a record’s list or pattern, and the planner’s own listing for the streams its choice names', () => {
    const workers = [
      workerRecord('by-list', { consumes: { streams: ['orders', 'added'] } }),
      workerRecord('by-pattern', { consumes: { pattern: 'orders|gone|ADDED', flags: 'i' } }),
      workerRecord('unstated'),
    ];
    // The planner chose orders and gone, and its last listing found only orders (gone was deleted).
    const eligibility = new StreamEligibility(workers, plannerOf(['orders'], ['orders', 'gone']));
    expect(eligibility.eligible({ streamName: 'orders' })).toBe('everyone');
    expect(eligibility.eligible({ streamName: 'gone' })).toEqual(new Set());
    expect(eligibility.eligible({ streamName: 'added' })).toEqual(new Set(['by-list', 'by-pattern']));
    expect(eligibility.eligible({ streamName: 'other' })).toEqual(new Set());
    expect(eligibility.anyone({ streamName: 'gone' })).toBe(false);
  });

  it('matches a pattern against the whole name; one that does not compile matches nothing', () => {
    const workers = [
      workerRecord('anchored', { consumes: { pattern: 'orders-.+', flags: 'u' } }),
      workerRecord('broken', { consumes: { pattern: '(', flags: '' } }),
    ];
    const eligibility = new StreamEligibility(workers, plannerOf([]));
    expect(eligibility.eligible({ streamName: 'orders-eu' })).toEqual(new Set(['anchored']));
    expect(eligibility.eligible({ streamName: 'old-orders-eu' })).toEqual(new Set());
  });
});

describe('planning over workers that consume different streams', () => {
  it('hands a lease only to a worker that consumes its stream, and stays put once there', () => {
    const records = [workerRecord('old', { consumes: { streams: ['a'] } }), workerRecord('new', { consumes: { streams: ['a', 'b'] } })];
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
    const records = [
      workerRecord('dropped-b', { consumes: { streams: ['a'] } }),
      workerRecord('keeps-b', { consumes: { streams: ['a', 'b'] } }),
    ];
    const leases = [leaseOf('a', 0, 'dropped-b'), leaseOf('b', 0, 'dropped-b')];
    const { moves } = plan(records, leases, plannerOf(['a', 'b']));
    expect(moves).toContainEqual(
      expect.objectContaining({ leaseKey: 'b:shardId-000000000000', from: 'dropped-b', to: 'keeps-b', kind: 'handoff' }),
    );
    expect(assignees(leases, moves).get('b:shardId-000000000000')).toBe('keeps-b');
  });

  it('plans nothing for a lease nobody consumes, and respects the per-worker cap', () => {
    const records = [workerRecord('w1', { consumes: { streams: ['a'] } }), workerRecord('w2', { consumes: { streams: ['a', 'b'] } })];
    const leases = [leaseOf('a', 0), leaseOf('b', 0), leaseOf('b', 1), leaseOf('c', 0)];
    const { moves } = plan(records, leases, plannerOf(['a', 'b', 'c']), 1);
    expect(moves.map((move) => move.leaseKey)).not.toContain('c:shardId-000000000000');
    const perWorker = new Map<string, number>();
    for (const move of moves) perWorker.set(move.to, (perWorker.get(move.to) ?? 0) + 1);
    for (const count of perWorker.values()) expect(count).toBeLessThanOrEqual(1);
    for (const move of moves) if (move.leaseKey.startsWith('b:')) expect(move.to).toBe('w2');
  });

  it('never plans a lease to a worker that does not consume its stream, whatever the records and owners', () => {
    const streams = ['a', 'b', 'c'];
    const selection = fc.subarray(streams).map((chosen): WorkerStreamSelection => ({ streams: chosen }));
    fc.assert(
      fc.property(
        fc.array(selection, { minLength: 1, maxLength: 5 }),
        fc.array(fc.record({ stream: fc.constantFrom(...streams), owner: fc.option(fc.nat(5), { nil: undefined }) }), { maxLength: 30 }),
        fc.subarray(streams),
        (selections, rows, plannerList) => {
          const records = selections.map((consumes, i) => workerRecord(`w${i}`, { consumes }));
          const leases = rows.map((row, n) => leaseOf(row.stream, n, row.owner === undefined ? undefined : `w${row.owner}`));
          const { moves } = plan(records, leases, plannerOf(plannerList));
          const consumers = (stream: string) =>
            records.filter((record) => record.consumes && 'streams' in record.consumes && record.consumes.streams.includes(stream));
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
