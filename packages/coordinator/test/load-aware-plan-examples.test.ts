import { InvalidArgumentError } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { choosePlanMode, planAssignments, planLoadAwareAssignments, type PlanInput } from '../src/index.js';
import { load, NOW, shard, withoutLoads } from './load-aware-plan-fixtures.js';

describe('planAssignments with worker loads: examples', () => {
  it('gives the extra ⌈N/W⌉ slot to the least loaded worker', () => {
    const input: PlanInput = {
      leases: [0, 1, 2, 3, 4].map((i) => ({ leaseKey: shard(i), owner: undefined })),
      workers: ['a', 'b'],
    };
    // Count mode breaks the tie by id; load mode by load.
    expect(Object.fromEntries(planAssignments(input).targets)).toEqual({ a: 3, b: 2 });
    const loaded = {
      ...input,
      workerLoads: new Map([
        ['a', load(900, 40)],
        ['b', load(100, 2)],
      ]),
    };
    expect(Object.fromEntries(planAssignments(loaded).targets)).toEqual({ a: 2, b: 3 });
    expect(planAssignments(loaded).moves).toHaveLength(5);
  });

  it('among workers that keep a lease more, the least loaded keeps it', () => {
    // 7 leases over 3 workers: ⌊7/3⌋ = 2 each and one extra slot; a and b both hold 3.
    const owners = ['a', 'a', 'a', 'b', 'b', 'b', 'c'];
    const input: PlanInput = {
      leases: owners.map((owner, i) => ({ leaseKey: shard(i), owner })),
      workers: ['a', 'b', 'c'],
      workerLoads: new Map([
        ['a', load(100, 1)],
        ['b', load(900, 80)],
        ['c', load(100, 1)],
      ]),
      // b stays busy afterwards; here only the count-balancing choice is looked at.
      loadOptions: { allowSwaps: false },
    };
    const plan = planAssignments(input);
    // a and b both hold 3 (> 2): the extra slot goes to a, the less loaded; b sheds one.
    expect(Object.fromEntries(plan.targets)).toEqual({ a: 3, b: 2, c: 2 });
    expect(plan.moves).toHaveLength(planAssignments(withoutLoads(input)).moves.length);
    expect(plan.moves.every((move) => move.from === 'b' && move.to === 'c')).toBe(true);
  });

  it('moves the busiest lease off a loaded worker to a joining one', () => {
    const input: PlanInput = {
      leases: [0, 1, 2, 3].map((i) => ({ leaseKey: shard(i), owner: 'a' })),
      workers: ['a', 'b'],
      workerLoads: new Map([
        ['a', load(1_000, 50)],
        ['b', load(0, 0)],
      ]),
      leaseThroughput: new Map([
        [shard(0), 100],
        [shard(1), 700],
        [shard(2), 100],
        [shard(3), 100],
      ]),
    };
    const plan = planAssignments(input);
    expect(plan.moves).toHaveLength(2);
    expect(plan.moves.every((move) => move.from === 'a' && move.to === 'b' && move.kind === 'handoff')).toBe(true);
    expect(plan.moves.map((move) => move.leaseKey)).toContain(shard(1));
  });

  it('has a worker at or below the mean shed its quietest leases', () => {
    // a holds 4 leases doing average work; b is busier (lag) but holds only its share.
    const input: PlanInput = {
      leases: [0, 1, 2, 3, 4, 5].map((i) => ({ leaseKey: shard(i), owner: i < 4 ? 'a' : 'b' })),
      workers: ['a', 'b', 'c'],
      workerLoads: new Map([
        ['a', load(300, 1)],
        ['b', load(300, 200)],
        ['c', load(0, 0)],
      ]),
      leaseThroughput: new Map([
        [shard(0), 10],
        [shard(1), 200],
        [shard(2), 20],
        [shard(3), 70],
        [shard(4), 150],
        [shard(5), 150],
      ]),
      loadOptions: { allowSwaps: false },
    };
    const plan = planAssignments(input);
    // The busier lease first in the list; both of a's quietest go to the idle c.
    expect(plan.moves).toEqual([
      { leaseKey: shard(2), from: 'a', to: 'c', kind: 'handoff' },
      { leaseKey: shard(0), from: 'a', to: 'c', kind: 'handoff' },
    ]);
  });

  it('lets an overloaded worker in a balanced fleet swap its busiest lease for a quiet one', () => {
    const input: PlanInput = {
      leases: [
        { leaseKey: shard(0), owner: 'a' },
        { leaseKey: shard(1), owner: 'a' },
        { leaseKey: shard(2), owner: 'b' },
        { leaseKey: shard(3), owner: 'b' },
      ],
      workers: ['a', 'b'],
      workerLoads: new Map([
        ['a', load(1_000, 100)],
        ['b', load(20, 0)],
      ]),
      leaseThroughput: new Map([
        [shard(0), 900],
        [shard(1), 100],
        [shard(2), 10],
        [shard(3), 10],
      ]),
    };
    const detailed = planLoadAwareAssignments(input);
    expect(detailed?.overloaded).toEqual(['a']);
    expect(detailed?.swaps).toEqual([{ overloaded: 'a', partner: 'b', leaseFromOverloaded: shard(0), leaseFromPartner: shard(2) }]);
    expect(planAssignments(input).moves).toEqual([
      { leaseKey: shard(0), from: 'a', to: 'b', kind: 'handoff' },
      { leaseKey: shard(2), from: 'b', to: 'a', kind: 'handoff' },
    ]);
    expect(planAssignments({ ...input, loadOptions: { allowSwaps: false } }).moves).toEqual([]);
    // Below the threshold nothing moves.
    expect(planAssignments({ ...input, loadOptions: { overloadRatio: 10 } }).moves).toEqual([]);
  });

  it('does not swap leases of equal throughput: it would not relieve anyone', () => {
    const input: PlanInput = {
      leases: [0, 1, 2, 3].map((i) => ({ leaseKey: shard(i), owner: i < 2 ? 'a' : 'b' })),
      workers: ['a', 'b'],
      workerLoads: new Map([
        ['a', load(500, 400)],
        ['b', load(500, 0)],
      ]),
      loadOptions: { overloadRatio: 1.2 },
    };
    expect(planLoadAwareAssignments(input)?.overloaded).toEqual(['a']);
    expect(planAssignments(input).moves).toEqual([]);
  });

  it('falls back to count balancing when a live worker’s load is missing, stale or malformed', () => {
    const workers = ['a', 'b', 'c'];
    const fresh = new Map(workers.map((id) => [id, load(100, 1)]));
    expect(choosePlanMode(workers, undefined)).toEqual({ mode: 'count', reason: 'no-loads' });
    expect(choosePlanMode([], fresh)).toEqual({ mode: 'count', reason: 'no-workers' });
    expect(choosePlanMode(workers, new Map([...fresh].filter(([id]) => id !== 'b')))).toEqual({
      mode: 'count',
      reason: 'missing-load',
      workerId: 'b',
    });
    expect(choosePlanMode(workers, new Map([...fresh, ['c', load(Number.NaN, 1)]]))).toEqual({
      mode: 'count',
      reason: 'invalid-load',
      workerId: 'c',
    });
    // Judged against the newest report when no clock is given...
    expect(choosePlanMode(workers, new Map([...fresh, ['a', load(100, 1, NOW - 30_001)]]))).toEqual({
      mode: 'count',
      reason: 'stale-load',
      workerId: 'a',
    });
    expect(choosePlanMode(workers, new Map([...fresh, ['a', load(100, 1, NOW - 30_000)]])).mode).toBe('load');
    // ...or against `nowMs`, with the age limit given.
    expect(choosePlanMode(workers, fresh, { nowMs: NOW + 5_001, maxLoadAgeMs: 5_000 })).toMatchObject({ reason: 'stale-load' });
    // Loads of workers that are not live do not matter.
    expect(choosePlanMode(['a'], new Map([...fresh, ['gone', load(1, 1, 0)]])).mode).toBe('load');
  });

  it('rejects invalid options with a message naming the field', () => {
    const input: PlanInput = { leases: [], workers: ['a'], workerLoads: new Map([['a', load(1, 1)]]) };
    expect(() => planAssignments({ ...input, loadOptions: { overloadRatio: 1 } })).toThrow(InvalidArgumentError);
    expect(() => planAssignments({ ...input, loadOptions: { maxLoadAgeMs: 0 } })).toThrow(/maxLoadAgeMs/);
  });
});
