import { describe, expect, it } from 'vitest';
import { CHAOS_EVENT_KINDS, createPrng, planChaos } from '../src/index.js';

describe('planChaos', () => {
  it('gives the same plan for the same seed, and another for another seed', () => {
    expect(planChaos({ seed: 7, loadMs: 600_000 })).toEqual(planChaos({ seed: 7, loadMs: 600_000 }));
    expect(planChaos({ seed: 8, loadMs: 600_000 }).events).not.toEqual(planChaos({ seed: 7, loadMs: 600_000 }).events);
  });

  it('keeps the fleet and shards in range and the events inside the load, spaced out', () => {
    for (let seed = 0; seed < 50; seed += 1) {
      const plan = planChaos({ seed, loadMs: 600_000 });
      expect(plan.workers).toBeGreaterThanOrEqual(3);
      expect(plan.workers).toBeLessThanOrEqual(5);
      expect(plan.shards).toBeGreaterThanOrEqual(8);
      expect(plan.shards).toBeLessThanOrEqual(12);
      const heavy = plan.events.filter((event) => !['redis-restart', 'split', 'merge'].includes(event.kind));
      for (const event of plan.events) {
        expect(event.atMs).toBeGreaterThanOrEqual(12_000);
        expect(event.atMs).toBeLessThanOrEqual(600_000 - 20_000);
        expect(event.pick).toBeGreaterThanOrEqual(0);
        expect(event.pick).toBeLessThan(1);
      }
      for (let i = 1; i < heavy.length; i += 1) {
        const previous = heavy[i - 1]!;
        expect(heavy[i]!.atMs - previous.atMs).toBeGreaterThanOrEqual(Math.max(10_000, previous.durationMs + 5_000));
      }
    }
  });

  it('draws every kind before repeating one', () => {
    const plan = planChaos({ seed: 3, loadMs: 3_600_000 });
    const kinds = new Set(plan.events.map((event) => event.kind));
    expect([...kinds].sort()).toEqual([...CHAOS_EVENT_KINDS].sort());
  });

  it('honours fleet overrides', () => {
    expect(planChaos({ seed: 1, loadMs: 60_000, workers: 5, shards: 16 })).toMatchObject({ workers: 5, shards: 16 });
  });
});

describe('createPrng', () => {
  it('is deterministic, in range, and forks independently of draws', () => {
    const a = createPrng(42);
    const b = createPrng(42);
    const drawn = Array.from({ length: 100 }, () => a.next());
    expect(drawn).toEqual(Array.from({ length: 100 }, () => b.next()));
    expect(drawn.every((value) => value >= 0 && value < 1)).toBe(true);
    expect(createPrng(42).fork('x').next()).toBe(a.fork('x').next());
    const ints = Array.from({ length: 1_000 }, () => a.int(3, 5));
    expect(new Set(ints)).toEqual(new Set([3, 4, 5]));
  });
});
