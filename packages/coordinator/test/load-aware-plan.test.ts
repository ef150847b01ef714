import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planAssignments, planLoadAwareAssignments } from '../src/index.js';
import { applyPlan, balancedFleet, holdings, loadedInput, MAX_AGE_MS, NOW, shuffled, withoutLoads } from './load-aware-plan-fixtures.js';

describe('planAssignments with worker loads: properties', () => {
  it('ends with every worker holding ⌊N/W⌋ or ⌈N/W⌉, matching the targets, every lease assigned', () => {
    fc.assert(
      fc.property(loadedInput, (input) => {
        const plan = planAssignments(input);
        const n = input.leases.length;
        const w = input.workers.length;
        const after = holdings(applyPlan(input, plan), input.workers);
        for (const [id, count] of after) {
          expect([Math.floor(n / w), Math.ceil(n / w)]).toContain(count);
          expect(plan.targets.get(id)).toBe(count);
        }
        expect([...after.values()].reduce((sum, count) => sum + count, 0)).toBe(n);
      }),
    );
  });

  it('assigns every lease without a live owner: take when unowned, handoff from a non-live owner', () => {
    fc.assert(
      fc.property(loadedInput, (input) => {
        const moved = new Map(planAssignments(input).moves.map((move) => [move.leaseKey, move]));
        const live = new Set(input.workers);
        for (const lease of input.leases) {
          if (lease.owner !== undefined && live.has(lease.owner)) continue;
          expect(moved.get(lease.leaseKey)?.kind).toBe(lease.owner === undefined ? 'take' : 'handoff');
        }
      }),
    );
  });

  it('each move comes from the current owner, goes to a live worker, and moves a lease once', () => {
    fc.assert(
      fc.property(loadedInput, (input) => {
        const plan = planAssignments(input);
        const owners = new Map(input.leases.map((lease) => [lease.leaseKey, lease.owner]));
        const live = new Set(input.workers);
        expect(new Set(plan.moves.map((move) => move.leaseKey)).size).toBe(plan.moves.length);
        for (const move of plan.moves) {
          expect(move.from).toBe(owners.get(move.leaseKey));
          expect(live.has(move.to)).toBe(true);
          expect(move.to).not.toBe(move.from);
          expect(move.kind === 'take').toBe(move.from === undefined);
        }
      }),
    );
  });

  it('moves exactly as many leases as count mode, plus two per swap, at most one swap per overloaded worker', () => {
    fc.assert(
      fc.property(loadedInput, (input) => {
        const detailed = planLoadAwareAssignments(input);
        expect(detailed).toBeDefined();
        const countMoves = planAssignments(withoutLoads(input)).moves.length;
        const swaps = detailed!.swaps;
        expect(planAssignments(input).moves).toEqual(detailed!.moves);
        expect(detailed!.moves).toHaveLength(countMoves + 2 * swaps.length);
        expect(swaps.length).toBeLessThanOrEqual(detailed!.overloaded.length);
        expect(swaps.length).toBeLessThanOrEqual(Math.floor(input.workers.length / 2));
        const overloaded = new Set(detailed!.overloaded);
        const inSwaps = swaps.flatMap((swap) => [swap.overloaded, swap.partner]);
        expect(new Set(inSwaps).size).toBe(inSwaps.length);
        for (const swap of swaps) {
          expect(overloaded.has(swap.overloaded)).toBe(true);
          expect(overloaded.has(swap.partner)).toBe(false);
        }
      }),
    );
  });

  it('moves nothing in a balanced fleet with equal loads, and only swaps with unequal ones', () => {
    fc.assert(
      fc.property(balancedFleet, fc.nat({ max: 19 }), (input, pick) => {
        const same = input.workerLoads!.get(input.workers[pick % input.workers.length]!)!;
        const equal = { ...input, workerLoads: new Map(input.workers.map((id) => [id, same])) };
        expect(planAssignments(equal).moves).toEqual([]);
        expect(planAssignments({ ...input, loadOptions: { ...input.loadOptions, allowSwaps: false } }).moves).toEqual([]);
        const detailed = planLoadAwareAssignments(input)!;
        expect(detailed.moves).toHaveLength(2 * detailed.swaps.length);
      }),
    );
  });

  it('gives the same plan as count mode when any live worker’s load is missing, stale or malformed', () => {
    const degraded = loadedInput.chain((input) =>
      fc.record({
        input: fc.constant(input),
        victim: fc.constantFrom(...input.workers),
        how: fc.constantFrom('missing', 'stale', 'nan', 'negative'),
      }),
    );
    fc.assert(
      fc.property(degraded, ({ input, victim, how }) => {
        const loads = new Map(input.workerLoads);
        const current = loads.get(victim)!;
        if (how === 'missing') loads.delete(victim);
        if (how === 'stale') loads.set(victim, { ...current, reportedAt: NOW - MAX_AGE_MS - 1 });
        if (how === 'nan') loads.set(victim, { ...current, eventLoopLagMs: Number.NaN });
        if (how === 'negative') loads.set(victim, { ...current, recordsPerSecond: -1 });
        const degradedInput = { ...input, workerLoads: loads };
        const plan = planAssignments(degradedInput);
        const count = planAssignments(withoutLoads(input));
        expect(plan.moves).toEqual(count.moves);
        expect(new Map(plan.targets)).toEqual(new Map(count.targets));
        expect(planLoadAwareAssignments(degradedInput)).toBeUndefined();
        // An empty map (the load store could not reach Redis) is the same as no loads.
        expect(planAssignments({ ...input, workerLoads: new Map() })).toEqual(count);
      }),
    );
  });

  it('is deterministic: the same fleet in any order gives the same plan', () => {
    fc.assert(
      fc.property(loadedInput, fc.integer(), (input, seed) => {
        const plan = planAssignments(input);
        const again = planAssignments({
          ...input,
          leases: shuffled(input.leases, seed),
          workers: shuffled(input.workers, seed + 7),
          workerLoads: new Map(shuffled([...input.workerLoads!], seed + 3)),
          leaseThroughput: input.leaseThroughput && new Map(shuffled([...input.leaseThroughput], seed + 5)),
        });
        expect(again.moves).toEqual(plan.moves);
        expect(new Map(again.targets)).toEqual(new Map(plan.targets));
      }),
    );
  });

  it('with maxLeasesPerWorker, keeps count mode’s bound and move count (before swaps)', () => {
    fc.assert(
      fc.property(loadedInput, fc.integer({ min: 1, max: 20 }), (input, max) => {
        const capped = { ...input, maxLeasesPerWorker: max };
        const detailed = planLoadAwareAssignments(capped)!;
        const count = planAssignments(withoutLoads(capped));
        expect(detailed.moves).toHaveLength(count.moves.length + 2 * detailed.swaps.length);
        for (const target of detailed.targets.values()) expect(target).toBeLessThanOrEqual(max);
        const before = holdings(new Map(input.leases.map((lease) => [lease.leaseKey, lease.owner])), input.workers);
        const after = holdings(applyPlan(input, detailed), input.workers);
        for (const [id, held] of after) {
          expect(held).toBeLessThanOrEqual(Math.max(max, before.get(id) ?? 0));
          if ((before.get(id) ?? 0) <= max) expect(held).toBeLessThanOrEqual(max);
        }
        // Leases without a live owner are placed first while there is room.
        const live = new Set(input.workers);
        const orphans = input.leases.filter((lease) => lease.owner === undefined || !live.has(lease.owner));
        const room = input.workers.reduce((sum, id) => {
          const target = detailed.targets.get(id) ?? 0;
          return sum + target - Math.min(target, before.get(id) ?? 0);
        }, 0);
        const placed = detailed.moves.filter((move) => move.from === undefined || !live.has(move.from)).length;
        expect(placed).toBe(Math.min(orphans.length, room));
      }),
    );
  });
});
