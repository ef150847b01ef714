/**
 * Planner: time to plan 10,000 leases over 100 workers (target < 50 ms), in three situations a
 * fleet meets: a cold start (no lease owned), a worker joining a balanced fleet, and a worker
 * dying (its leases must move). Each is planned PLANNER_ITERATIONS times; the table shows the
 * median and p99 of single plans.
 */
import { planAssignments, type PlanInput, type PlannerLease } from '@shoal/coordinator';
import { printTable, writeResult } from './report.js';

const LEASES = Number(process.env.PLANNER_LEASES ?? 10_000);
const WORKERS = Number(process.env.PLANNER_WORKERS ?? 100);
const ITERATIONS = Number(process.env.PLANNER_ITERATIONS ?? 50);

export async function run(): Promise<void> {
  const workers = Array.from({ length: WORKERS }, (_, index) => `worker-${String(index).padStart(4, '0')}`);
  const leaseKeys = Array.from({ length: LEASES }, (_, index) => `shardId-${String(index).padStart(12, '0')}`);
  const balanced: PlannerLease[] = leaseKeys.map((leaseKey, index) => ({ leaseKey, owner: workers[index % WORKERS] }));

  const scenarios: { name: string; input: PlanInput }[] = [
    { name: 'cold start (all unowned)', input: { leases: leaseKeys.map((leaseKey) => ({ leaseKey, owner: undefined })), workers } },
    { name: 'a worker joins', input: { leases: balanced, workers: [...workers, 'worker-new'] } },
    {
      name: 'a worker dies',
      input: {
        leases: balanced.map((lease) => (lease.owner === workers[0] ? { ...lease, owner: undefined } : lease)),
        workers: workers.slice(1),
      },
    },
    { name: 'balanced (no moves)', input: { leases: balanced, workers } },
  ];

  const rows: (string | number)[][] = [['scenario', 'moves', 'median ms', 'p99 ms']];
  const figures: Record<string, { moves: number; medianMs: number; p99Ms: number }> = {};
  for (const { name, input } of scenarios) {
    planAssignments(input); // warm up
    const times: number[] = [];
    let moves = 0;
    for (let iteration = 0; iteration < ITERATIONS; iteration += 1) {
      const started = performance.now();
      moves = planAssignments(input).moves.length;
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const medianMs = round(times[Math.floor(times.length / 2)]!);
    const p99Ms = round(times[Math.min(times.length - 1, Math.ceil(times.length * 0.99) - 1)]!);
    figures[name] = { moves, medianMs, p99Ms };
    rows.push([name, moves, medianMs, p99Ms]);
  }
  const planMs = Math.max(...Object.values(figures).map((figure) => figure.p99Ms));
  rows.push(['worst p99 (target < 50 ms)', '', '', planMs]);
  printTable(`planner: ${LEASES} leases × ${WORKERS} workers, ${ITERATIONS} plans per scenario`, rows);
  writeResult('planner', { planMs, target: 50, leases: LEASES, workers: WORKERS, iterations: ITERATIONS, scenarios: figures });
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
