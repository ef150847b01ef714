/** Shared helpers and fast-check arbitraries of the load-aware planner tests. */
import fc from 'fast-check';
import type { PlanInput, PlannerLease, WorkerLoad } from '../src/index.js';
import { shuffled } from './plan-fixtures.js';
export { applyPlan, holdings, shuffled } from './plan-fixtures.js';

export const NOW = 1_700_000_000_000;
export const MAX_AGE_MS = 30_000;

export const shard = (index: number): string => `shardId-${String(index).padStart(12, '0')}`;
export const worker = (index: number): string => `worker-${String(index).padStart(2, '0')}`;
export const load = (recordsPerSecond: number, eventLoopLagMs: number, reportedAt = NOW): WorkerLoad => ({
  recordsPerSecond,
  eventLoopLagMs,
  reportedAt,
});

/** Who holds each lease once every move of the plan is carried out. */

export function withoutLoads(input: PlanInput): PlanInput {
  return { leases: input.leases, workers: input.workers, maxLeasesPerWorker: input.maxLeasesPerWorker };
}

export const workerLoad = fc.record({
  recordsPerSecond: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5_000 }), fc.double({ min: 0, max: 5_000, noNaN: true })),
  eventLoopLagMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 500 })),
  reportedAt: fc.integer({ min: NOW - MAX_AGE_MS, max: NOW }),
});

/**
 * 1–20 live workers, each with a fresh load; 0–200 leases, each owned by a live worker, a gone
 * worker or nobody; throughput known for some leases.
 */
export const loadedInput = fc
  .record({ workerCount: fc.integer({ min: 1, max: 20 }), leaseCount: fc.integer({ min: 0, max: 200 }) })
  .chain(({ workerCount, leaseCount }) => {
    const workers = Array.from({ length: workerCount }, (_, i) => worker(i));
    const owner = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...workers) },
      { weight: 1, arbitrary: fc.constantFrom('gone-a', 'gone-b') },
      { weight: 2, arbitrary: fc.constant(undefined) },
    );
    return fc.record({
      workers: fc.constant(workers),
      owners: fc.array(owner, { minLength: leaseCount, maxLength: leaseCount }),
      loads: fc.array(workerLoad, { minLength: workerCount, maxLength: workerCount }),
      throughput: fc.array(fc.option(fc.integer({ min: 0, max: 2_000 }), { nil: undefined }), {
        minLength: leaseCount,
        maxLength: leaseCount,
      }),
      withThroughput: fc.boolean(),
    });
  })
  .map(({ workers, owners, loads, throughput, withThroughput }): PlanInput => {
    const leases = owners.map((owner, i): PlannerLease => ({ leaseKey: shard(i), owner }));
    const leaseThroughput = new Map<string, number>();
    throughput.forEach((value, i) => value !== undefined && leaseThroughput.set(shard(i), value));
    return {
      workers,
      leases,
      workerLoads: new Map(workers.map((id, i) => [id, loads[i]!])),
      leaseThroughput: withThroughput ? leaseThroughput : undefined,
      loadOptions: { nowMs: NOW, maxLoadAgeMs: MAX_AGE_MS },
    };
  });

/** A fleet where every worker holds ⌊N/W⌋ or ⌈N/W⌉, with arbitrary (fresh) loads. */
export const balancedFleet = fc
  .record({
    workerCount: fc.integer({ min: 1, max: 20 }),
    leaseCount: fc.integer({ min: 0, max: 200 }),
    seed: fc.integer(),
    loads: fc.array(workerLoad, { minLength: 20, maxLength: 20 }),
  })
  .map(({ workerCount, leaseCount, seed, loads }): PlanInput => {
    const workers = Array.from({ length: workerCount }, (_, i) => worker(i));
    const order = shuffled(workers, seed);
    const keys = shuffled(
      Array.from({ length: leaseCount }, (_, i) => shard(i)),
      seed + 1,
    );
    return {
      workers,
      leases: keys.map((leaseKey, i) => ({ leaseKey, owner: order[i % workerCount] })),
      workerLoads: new Map(workers.map((id, i) => [id, loads[i]!])),
      loadOptions: { nowMs: NOW, maxLoadAgeMs: MAX_AGE_MS },
    };
  });
