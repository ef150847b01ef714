/**
 * DynamoDB cost in steady state: 64 leases on four in-process workers with default timings and
 * the coordination bus on the shared NATS server. Each worker gets its own metered DynamoDB
 * client (see dynamodb-meter.ts: calls by operation, and the capacity units DynamoDB reports
 * for them). Counting starts once the fleet is balanced and has settled, and runs
 * for a fixed time. No records are produced: this is the cost of holding leases, not of
 * checkpointing (which is one write per checkpoint the processor asks for).
 * Target: ≤ 60 writes per lease-hour (KCL's default renewal ≈ 1,090).
 *
 * Environment: DDB_COST_SECONDS (measured time, default 60), DDB_COST_SETTLE_SECONDS (5),
 * DDB_COST_SHARDS (64), DDB_COST_WORKERS (4).
 */
import { LocalStack, uniqueName } from '@shoal/local-stack';
import { pino } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { READ_OPERATIONS, WRITE_OPERATIONS, callsOf, totalOf } from './dynamodb-meter.js';
import { LeaseTableView, leasesPerOwner, waitForBalance } from './fleet-processes.js';
import { startInProcessWorker, stopAll, type InProcessWorker } from './in-process-fleet.js';
import { printTable, sourceState, writeResult } from './report.js';

const MEASURE_SECONDS = Number(process.env.DDB_COST_SECONDS ?? 60);
const SETTLE_SECONDS = Number(process.env.DDB_COST_SETTLE_SECONDS ?? 5);
const SHARDS = Number(process.env.DDB_COST_SHARDS ?? 64);
const WORKERS = Number(process.env.DDB_COST_WORKERS ?? 4);
const TARGET_WRITES_PER_LEASE_HOUR = 60;
const KCL_WRITES_PER_LEASE_HOUR = 1_090;

export async function run(): Promise<void> {
  await using stack = await LocalStack.start();
  const streamName = uniqueName('ddb-cost');
  await stack.createStream(streamName, SHARDS);
  const target = { applicationName: uniqueName('ddb-cost'), streamName, leaseTableName: uniqueName('bench-ddb-cost-leases') };
  const view = new LeaseTableView(stack, target);
  await view.ensureTable();
  const logger = pino({ level: process.env.BENCH_WORKER_LOG_LEVEL ?? 'warn' });
  const workerIds = Array.from({ length: WORKERS }, (_, index) => `ddb-cost-${String.fromCharCode(97 + index)}`);
  const fleet: InProcessWorker[] = [];
  try {
    for (const workerId of workerIds) fleet.push(await startInProcessWorker(stack, target, workerId, logger));
    if (fleet.every(({ meter }) => meter.calls.size === 0)) throw new Error('the meter saw no DynamoDB call');

    const balancedAt = Date.now();
    await waitForBalance(view, workerIds, SHARDS, { stableMs: 1_000, timeoutMs: 120_000 });
    process.stdout.write(
      `balanced ${SHARDS} leases over ${WORKERS} workers in ${((Date.now() - balancedAt) / 1000).toFixed(1)} s; settling ${SETTLE_SECONDS} s\n`,
    );
    await sleep(SETTLE_SECONDS * 1_000);

    const before = await view.read();
    const marks = fleet.map(({ meter }) => meter.snapshot());
    const started = performance.now();
    process.stdout.write(`measuring for ${MEASURE_SECONDS} s (no records produced)\n`);
    await sleep(MEASURE_SECONDS * 1_000);
    const measuredMs = performance.now() - started;
    const readings = fleet.map(({ meter }, index) => meter.since(marks[index]!));
    const perWorker = readings.map((reading) => reading.calls);
    const after = await view.read();

    const leaderId = after.leadership?.leaderId;
    const movedDuring = after.leases.filter(
      (lease) => lease.leaseCounter !== before.leases.find((previous) => previous.leaseKey === lease.leaseKey)?.leaseCounter,
    ).length;
    const total = totalOf(readings);
    const totals = total.calls;
    const commands = [...totals.keys()].sort();
    const hours = measuredMs / 3_600_000;
    const perLeaseHour = (count: number) => count / SHARDS / hours;
    const writes = callsOf(total, WRITE_OPERATIONS);
    const reads = callsOf(total, READ_OPERATIONS);
    const other = [...totals.values()].reduce((sum, count) => sum + count, 0) - writes - reads;
    const writesPerLeaseHour = round(perLeaseHour(writes));
    const readsPerLeaseHour = round(perLeaseHour(reads));

    const kind = (name: string) => (WRITE_OPERATIONS.has(name) ? 'write' : READ_OPERATIONS.has(name) ? 'read' : 'other');
    printTable(
      `ddb-cost: ${SHARDS} leases on ${WORKERS} in-process workers, default timings, coordination bus; ${(measuredMs / 1000).toFixed(1)} s measured after balance + ${SETTLE_SECONDS} s settle; no records produced (target: ≤ ${TARGET_WRITES_PER_LEASE_HOUR} writes per lease-hour)`,
      [
        ['command', 'kind', 'calls', ...workerIds.map((id) => (id === leaderId ? `${id} (leader)` : id)), 'per hour', 'per lease-hour'],
        ...commands.map((name) => [
          name,
          kind(name),
          totals.get(name)!,
          ...perWorker.map((counts) => counts.get(name) ?? 0),
          Math.round(totals.get(name)! / hours),
          round(perLeaseHour(totals.get(name)!)),
        ]),
        [
          'writes',
          '',
          writes,
          ...readings.map((reading) => callsOf(reading, WRITE_OPERATIONS)),
          Math.round(writes / hours),
          writesPerLeaseHour,
        ],
        ['reads', '', reads, ...readings.map((reading) => callsOf(reading, READ_OPERATIONS)), Math.round(reads / hours), readsPerLeaseHour],
        [
          'read units',
          '',
          round(total.readUnits),
          ...readings.map((reading) => round(reading.readUnits)),
          Math.round(total.readUnits / hours),
          round(perLeaseHour(total.readUnits)),
        ],
      ],
    );
    const finalCounts = leasesPerOwner(after);
    writeResult('ddb-cost', {
      source: sourceState(),
      writesPerLeaseHour,
      readsPerLeaseHour,
      readUnitsPerLeaseHour: round(perLeaseHour(total.readUnits)),
      writes,
      reads,
      readUnits: round(total.readUnits),
      writeUnits: round(total.writeUnits),
      otherCalls: other,
      callsByCommand: Object.fromEntries(commands.map((name) => [name, totals.get(name)])),
      callsByWorker: Object.fromEntries(fleet.map(({ workerId }, index) => [workerId, Object.fromEntries(perWorker[index]!)])),
      leaderId,
      leasesMovedDuringMeasurement: movedDuring,
      leasesPerWorkerAtEnd: Object.fromEntries(workerIds.map((id) => [id, finalCounts.get(id) ?? 0])),
      measuredSeconds: round(measuredMs / 1000),
      settleSeconds: SETTLE_SECONDS,
      recordsProduced: 0,
      met: writesPerLeaseHour <= TARGET_WRITES_PER_LEASE_HOUR,
      target: { writesPerLeaseHour: TARGET_WRITES_PER_LEASE_HOUR },
      kclDefaultWritesPerLeaseHour: KCL_WRITES_PER_LEASE_HOUR,
      shards: SHARDS,
      leases: SHARDS,
      workers: WORKERS,
      timings: 'production defaults, coordination bus nats://127.0.0.1:4222',
      emulator: 'dynalite',
    });
  } finally {
    await stopAll(fleet);
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
