import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planAssignments, type PlanInput, type PlannerLease } from '../src/index.js';
import { applyPlan, holdings, shuffled } from './plan-fixtures.js';

const shard = (index: number): string => `shardId-${String(index).padStart(12, '0')}`;
const worker = (index: number): string => `worker-${String(index).padStart(2, '0')}`;

/** Who holds each lease once every move of the plan is carried out. */

/** Leases each of `workers` holds in `owners`. */

/**
 * The fewest moves any balanced assignment needs, derived without the planner: a lease stays
 * only if its live owner keeps it. Each worker can keep up to ⌊N/W⌋; N mod W workers may keep one
 * more, which helps exactly when that worker holds more than ⌊N/W⌋.
 */
function minimumMoves(input: PlanInput): number {
  const workers = [...new Set(input.workers)];
  const n = input.leases.length;
  const base = Math.floor(n / workers.length);
  const extra = n % workers.length;
  const held = holdings(new Map(input.leases.map((lease) => [lease.leaseKey, lease.owner])), workers);
  let kept = 0;
  let above = 0;
  for (const count of held.values()) {
    kept += Math.min(count, base);
    if (count > base) above += 1;
  }
  kept += Math.min(extra, above);
  return n - kept;
}

/** 1–30 live workers; 0–300 leases, each owned by a live worker, a gone worker, or nobody. */
const planInput = fc
  .record({ workerCount: fc.integer({ min: 1, max: 30 }), leaseCount: fc.integer({ min: 0, max: 300 }) })
  .chain(({ workerCount, leaseCount }) => {
    const workers = Array.from({ length: workerCount }, (_, i) => worker(i));
    const owner = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...workers) },
      { weight: 1, arbitrary: fc.constantFrom('gone-a', 'gone-b', 'gone-c') },
      { weight: 2, arbitrary: fc.constant(undefined) },
    );
    return fc.record({
      workers: fc.constant(workers),
      owners: fc.array(owner, { minLength: leaseCount, maxLength: leaseCount }),
    });
  })
  .map(({ workers, owners }): PlanInput => ({
    workers,
    leases: owners.map((owner, i): PlannerLease => ({ leaseKey: shard(i), owner })),
  }));

describe('planAssignments: examples', () => {
  it('splits 4 unowned leases over 2 workers 2/2 with takes', () => {
    const input: PlanInput = { leases: [0, 1, 2, 3].map((i) => ({ leaseKey: shard(i), owner: undefined })), workers: ['a', 'b'] };
    const plan = planAssignments(input);
    expect(plan.moves).toHaveLength(4);
    expect(plan.moves.every((move) => move.kind === 'take' && move.from === undefined)).toBe(true);
    expect(Object.fromEntries(holdings(applyPlan(input, plan), ['a', 'b']))).toEqual({ a: 2, b: 2 });
    expect(Object.fromEntries(plan.targets)).toEqual({ a: 2, b: 2 });
  });

  it('moves one of 4 leases when one worker holds 3 and the other 1', () => {
    const owners = ['a', 'a', 'a', 'b'];
    const input: PlanInput = { leases: owners.map((owner, i) => ({ leaseKey: shard(i), owner })), workers: ['a', 'b'] };
    const plan = planAssignments(input);
    expect(plan.moves).toEqual([{ leaseKey: shard(2), from: 'a', to: 'b', kind: 'handoff' }]);
  });

  it('gives a joining fifth worker 12 of 64 leases, moving exactly 12', () => {
    const before = ['w1', 'w2', 'w3', 'w4'];
    const input: PlanInput = {
      leases: Array.from({ length: 64 }, (_, i) => ({ leaseKey: shard(i), owner: before[i % 4] })),
      workers: [...before, 'w5'],
    };
    const plan = planAssignments(input);
    const after = holdings(applyPlan(input, plan), input.workers);
    expect(Object.fromEntries(after)).toEqual({ w1: 13, w2: 13, w3: 13, w4: 13, w5: 12 });
    expect(plan.moves).toHaveLength(12);
    expect(plan.moves.every((move) => move.to === 'w5' && move.kind === 'handoff')).toBe(true);
    expect(plan.moves.filter((move) => move.from === 'w1')).toHaveLength(3);
  });

  it('hands a lease owned by a worker that is not live-and-active to a live worker', () => {
    // A leaving worker is still alive (it drains), so its leases are handed off, not taken.
    const input: PlanInput = {
      leases: [
        { leaseKey: shard(0), owner: 'leaving' },
        { leaseKey: shard(1), owner: 'a' },
      ],
      workers: ['a', 'b'],
    };
    expect(planAssignments(input).moves).toEqual([{ leaseKey: shard(0), from: 'leaving', to: 'b', kind: 'handoff' }]);
  });

  it('plans nothing without workers', () => {
    const plan = planAssignments({ leases: [{ leaseKey: shard(0), owner: undefined }], workers: [] });
    expect(plan.moves).toEqual([]);
    expect(plan.targets.size).toBe(0);
  });

  it('plans nothing without leases', () => {
    const plan = planAssignments({ leases: [], workers: ['a', 'b'] });
    expect(plan.moves).toEqual([]);
    expect(Object.fromEntries(plan.targets)).toEqual({ a: 0, b: 0 });
  });

  it('leaves leases beyond every worker’s maxLeasesPerWorker unassigned', () => {
    const input: PlanInput = {
      leases: Array.from({ length: 10 }, (_, i) => ({ leaseKey: shard(i), owner: undefined })),
      workers: ['a', 'b', 'c'],
      maxLeasesPerWorker: 2,
    };
    const plan = planAssignments(input);
    expect(plan.moves).toHaveLength(6);
    expect(Object.fromEntries(holdings(applyPlan(input, plan), input.workers))).toEqual({ a: 2, b: 2, c: 2 });
  });

  it('ignores duplicate worker ids', () => {
    const input: PlanInput = { leases: [0, 1].map((i) => ({ leaseKey: shard(i), owner: undefined })), workers: ['a', 'a', 'b'] };
    const plan = planAssignments(input);
    expect(Object.fromEntries(holdings(applyPlan(input, plan), ['a', 'b']))).toEqual({ a: 1, b: 1 });
  });
});

describe('planAssignments: properties', () => {
  it('ends with every worker holding ⌊N/W⌋ or ⌈N/W⌉, matching the targets', () => {
    fc.assert(
      fc.property(planInput, (input) => {
        const plan = planAssignments(input);
        const n = input.leases.length;
        const w = input.workers.length;
        const after = holdings(applyPlan(input, plan), input.workers);
        for (const [id, count] of after) {
          expect([Math.floor(n / w), Math.ceil(n / w)]).toContain(count);
          expect(plan.targets.get(id)).toBe(count);
        }
        // Every lease ends with a live worker.
        expect([...after.values()].reduce((sum, count) => sum + count, 0)).toBe(n);
      }),
    );
  });

  it('moves every lease without a live owner: take when unowned, handoff from a non-live owner', () => {
    fc.assert(
      fc.property(planInput, (input) => {
        const plan = planAssignments(input);
        const moved = new Map(plan.moves.map((move) => [move.leaseKey, move]));
        const live = new Set(input.workers);
        for (const lease of input.leases) {
          if (lease.owner !== undefined && live.has(lease.owner)) continue;
          const move = moved.get(lease.leaseKey);
          expect(move).toBeDefined();
          expect(move?.kind).toBe(lease.owner === undefined ? 'take' : 'handoff');
        }
      }),
    );
  });

  it('moves the minimum number of leases', () => {
    fc.assert(
      fc.property(planInput, (input) => {
        expect(planAssignments(input).moves).toHaveLength(minimumMoves(input));
      }),
    );
  });

  it('each move comes from the lease’s current owner, goes to a live worker, and moves a lease once', () => {
    fc.assert(
      fc.property(planInput, (input) => {
        const plan = planAssignments(input);
        const owners = new Map(input.leases.map((lease) => [lease.leaseKey, lease.owner]));
        const live = new Set(input.workers);
        expect(new Set(plan.moves.map((move) => move.leaseKey)).size).toBe(plan.moves.length);
        for (const move of plan.moves) {
          expect(owners.has(move.leaseKey)).toBe(true);
          expect(move.from).toBe(owners.get(move.leaseKey));
          expect(live.has(move.to)).toBe(true);
          expect(move.to).not.toBe(move.from);
          // A handoff always names whom to ask; a take never has an owner to ask.
          expect(move.kind === 'take').toBe(move.from === undefined);
        }
      }),
    );
  });

  it('moves nothing in a balanced fleet (stickiness)', () => {
    const balanced = fc
      .record({
        workerCount: fc.integer({ min: 1, max: 30 }),
        leaseCount: fc.integer({ min: 0, max: 300 }),
        seed: fc.integer(),
      })
      .map(({ workerCount, leaseCount, seed }): PlanInput => {
        const workers = Array.from({ length: workerCount }, (_, i) => worker(i));
        // Round-robin over a shuffled worker order: every worker holds ⌊N/W⌋ or ⌈N/W⌉.
        const order = shuffled(workers, seed);
        const keys = shuffled(
          Array.from({ length: leaseCount }, (_, i) => shard(i)),
          seed + 1,
        );
        return { workers, leases: keys.map((leaseKey, i) => ({ leaseKey, owner: order[i % workerCount] })) };
      });
    fc.assert(
      fc.property(balanced, (input) => {
        expect(planAssignments(input).moves).toEqual([]);
      }),
    );
  });

  it('is deterministic: the same fleet in any order gives the same plan', () => {
    fc.assert(
      fc.property(planInput, fc.integer(), (input, seed) => {
        const plan = planAssignments(input);
        const again = planAssignments({ leases: shuffled(input.leases, seed), workers: shuffled(input.workers, seed + 7) });
        expect(again.moves).toEqual(plan.moves);
        expect(new Map(again.targets)).toEqual(new Map(plan.targets));
      }),
    );
  });

  it('with maxLeasesPerWorker, never moves a worker above the bound', () => {
    fc.assert(
      fc.property(planInput, fc.integer({ min: 1, max: 20 }), (input, max) => {
        const plan = planAssignments({ ...input, maxLeasesPerWorker: max });
        const before = holdings(new Map(input.leases.map((lease) => [lease.leaseKey, lease.owner])), input.workers);
        const after = holdings(applyPlan(input, plan), input.workers);
        for (const [id, count] of after) {
          // A worker that already held more than the bound (another configuration) is not made
          // to hold even more; everyone else ends within the bound.
          expect(count).toBeLessThanOrEqual(Math.max(max, before.get(id) ?? 0));
          if ((before.get(id) ?? 0) <= max) expect(count).toBeLessThanOrEqual(max);
          expect(plan.targets.get(id)).toBeLessThanOrEqual(max);
        }
      }),
    );
  });

  it('with maxLeasesPerWorker, fills every worker up to its bound or the fair share', () => {
    // Start from holdings within the bound, as a fleet that always ran with it does.
    const withinBound = fc.integer({ min: 1, max: 20 }).chain((max) =>
      planInput.map((input) => {
        const taken = new Map<string, number>();
        const leases = input.leases.map((lease) => {
          if (lease.owner === undefined || !input.workers.includes(lease.owner)) return lease;
          const count = (taken.get(lease.owner) ?? 0) + 1;
          taken.set(lease.owner, count);
          return count <= max ? lease : { ...lease, owner: undefined };
        });
        return { input: { ...input, leases }, max };
      }),
    );
    fc.assert(
      fc.property(withinBound, ({ input, max }) => {
        const plan = planAssignments({ ...input, maxLeasesPerWorker: max });
        const after = holdings(applyPlan(input, plan), input.workers);
        const fair = Math.floor(input.leases.length / input.workers.length);
        for (const count of after.values()) {
          expect(count).toBeLessThanOrEqual(max);
          expect(count).toBeGreaterThanOrEqual(Math.min(max, fair));
        }
        const assigned = [...after.values()].reduce((sum, count) => sum + count, 0);
        expect(assigned).toBe(Math.min(input.leases.length, max * input.workers.length));
      }),
    );
  });
});
