/**
 * What a large fleet costs in DynamoDB in steady state, and how that grows with the number of
 * workers: 1,000 leases on 10 and then on 50 in-process workers (default timings, coordination
 * bus on the shared NATS server). Each worker's client meters its calls and the capacity units
 * DynamoDB reports for them (see dynamodb-meter.ts). Measuring starts once the fleet is balanced
 * and settled, and runs for a fixed window. No records are produced: this is the cost of holding
 * leases; a checkpoint costs one more write each time the processor asks for one.
 * Idle shards are polled at most every 10 s here (retrieval settings only, which touch Kinesis,
 * not DynamoDB), so the emulator polling 1,000 shards does not starve the workers on two cores.
 *
 * Targets at 1,000 leases × 50 workers: ≤ 60 read units and ≤ 60 writes per lease-hour; read
 * growth from 10 to 50 workers ≤ 1.25.
 *
 * Environment: FLEET_COST_LEASES (1000), FLEET_COST_WORKERS (sizes, default "10,50"),
 * FLEET_COST_SECONDS (measured window, 60), FLEET_COST_SETTLE_SECONDS (10).
 */
import { LocalStack } from '@shoal/local-stack';
import { pino } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { READ_OPERATIONS, WRITE_OPERATIONS, callsOf, totalOf, type MeterReading } from './dynamodb-meter.js';
import { waitForBalance } from './fleet-processes.js';
import { newFleetTarget, startInProcessWorker, stopAll, type InProcessWorker } from './in-process-fleet.js';
import { printTable, sourceState, writeResult } from './report.js';

const LEASES = Number(process.env.FLEET_COST_LEASES ?? 1_000);
const SIZES = (process.env.FLEET_COST_WORKERS ?? '10,50').split(',').map(Number);
const MEASURE_SECONDS = Number(process.env.FLEET_COST_SECONDS ?? 60);
const SETTLE_SECONDS = Number(process.env.FLEET_COST_SETTLE_SECONDS ?? 10);
const TARGET_UNITS_PER_LEASE_HOUR = 60;
const TARGET_READ_GROWTH = 1.25;
const IDLE_POLLING = { idleTimeBetweenReadsMs: 250, maxIdleTimeBetweenReadsMs: 10_000 };

interface SizeResult {
  readonly workers: number;
  readonly leaderId: string | undefined;
  readonly measuredSeconds: number;
  readonly total: MeterReading;
  readonly leader: MeterReading | undefined;
  /** The busiest and the average member (not the leader). */
  readonly memberMaxReadUnits: number;
  readonly memberMeanReadUnits: number;
  readonly readUnitsPerLeaseHour: number;
  readonly writeUnitsPerLeaseHour: number;
  readonly writesPerLeaseHour: number;
  readonly readsPerLeaseHour: number;
  readonly unmeteredCalls: number;
}

export async function run(): Promise<void> {
  // Each size gets a stream of its own; kinesalite counts every stream's shards against the limit.
  await using stack = await LocalStack.start({ shardLimit: LEASES * SIZES.length + 100 });
  // A thousand shards' first reads time out on the emulator and are retried: warnings are noise here.
  const logger = pino({ level: process.env.BENCH_WORKER_LOG_LEVEL ?? 'error' });
  const results: SizeResult[] = [];
  for (const workers of SIZES) results.push(await measure(stack, workers, logger));

  const [smallest, largest] = [results[0]!, results[results.length - 1]!];
  const readGrowth = round(largest.readUnitsPerLeaseHour / smallest.readUnitsPerLeaseHour, 2);
  printTable(
    `fleet-cost: ${LEASES} leases, in-process workers, default timings, coordination bus; ${MEASURE_SECONDS} s measured after balance + ${SETTLE_SECONDS} s settle; no records (targets at ${largest.workers} workers: ≤ ${TARGET_UNITS_PER_LEASE_HOUR} read units and ≤ ${TARGET_UNITS_PER_LEASE_HOUR} writes per lease-hour; read growth ≤ ${TARGET_READ_GROWTH})`,
    [
      [
        'workers',
        'read units',
        'leader',
        'member max',
        'member mean',
        'read units/lease-h',
        'reads/lease-h',
        'writes/lease-h',
        'write units/lease-h',
      ],
      ...results.map((result) => [
        result.workers,
        round(result.total.readUnits),
        round(result.leader?.readUnits ?? 0),
        round(result.memberMaxReadUnits),
        round(result.memberMeanReadUnits),
        result.readUnitsPerLeaseHour,
        result.readsPerLeaseHour,
        result.writesPerLeaseHour,
        result.writeUnitsPerLeaseHour,
      ]),
      ['read growth', readGrowth, '', '', '', '', '', '', ''],
    ],
  );
  const bySize = Object.fromEntries(
    results.map((result) => [
      `${LEASES}x${result.workers}`,
      {
        readUnitsPerLeaseHour: result.readUnitsPerLeaseHour,
        writesPerLeaseHour: result.writesPerLeaseHour,
        writeUnitsPerLeaseHour: result.writeUnitsPerLeaseHour,
        readsPerLeaseHour: result.readsPerLeaseHour,
        readUnits: round(result.total.readUnits),
        writeUnits: round(result.total.writeUnits),
        leaderReadUnits: round(result.leader?.readUnits ?? 0),
        memberMaxReadUnits: round(result.memberMaxReadUnits),
        memberMeanReadUnits: round(result.memberMeanReadUnits),
        callsByOperation: Object.fromEntries(result.total.calls),
        unmeteredCalls: result.unmeteredCalls,
        leaderId: result.leaderId,
        measuredSeconds: result.measuredSeconds,
      },
    ]),
  );
  writeResult('fleet-cost', {
    source: sourceState(),
    leases: LEASES,
    sizes: bySize,
    readGrowth,
    met:
      largest.readUnitsPerLeaseHour <= TARGET_UNITS_PER_LEASE_HOUR &&
      largest.writesPerLeaseHour <= TARGET_UNITS_PER_LEASE_HOUR &&
      readGrowth <= TARGET_READ_GROWTH,
    target: {
      readUnitsPerLeaseHour: TARGET_UNITS_PER_LEASE_HOUR,
      writesPerLeaseHour: TARGET_UNITS_PER_LEASE_HOUR,
      readGrowth: TARGET_READ_GROWTH,
    },
    settleSeconds: SETTLE_SECONDS,
    timings: 'production defaults; idle shards polled at most every 10 s',
    emulator: 'dynalite (ReturnConsumedCapacity TOTAL)',
  });
}

async function measure(stack: LocalStack, workerCount: number, logger: pino.Logger): Promise<SizeResult> {
  const { target, view } = await newFleetTarget(stack, 'fleet-cost', LEASES);
  const workerIds = Array.from({ length: workerCount }, (_, index) => `cost-${String(index).padStart(3, '0')}`);
  const fleet: InProcessWorker[] = [];
  try {
    const startedAt = Date.now();
    for (const workerId of workerIds) {
      fleet.push(await startInProcessWorker(stack, target, workerId, logger, { retrieval: { ...IDLE_POLLING } }));
    }
    await waitForBalance(view, workerIds, LEASES, { stableMs: 2_000, timeoutMs: 600_000 });
    process.stdout.write(
      `${workerCount} workers balanced ${LEASES} leases in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; settling ${SETTLE_SECONDS} s\n`,
    );
    await sleep(SETTLE_SECONDS * 1_000);
    const marks = fleet.map(({ meter }) => meter.snapshot());
    const unmeteredBefore = fleet.reduce((sum, { meter }) => sum + meter.unmetered, 0);
    const started = performance.now();
    process.stdout.write(`measuring ${workerCount} workers for ${MEASURE_SECONDS} s\n`);
    await sleep(MEASURE_SECONDS * 1_000);
    const measuredMs = performance.now() - started;
    const readings = fleet.map(({ meter }, index) => meter.since(marks[index]!));
    const leaderId = (await view.read()).leadership?.leaderId;
    const leaderIndex = fleet.findIndex(({ workerId }) => workerId === leaderId);
    const members = readings.filter((_, index) => index !== leaderIndex);
    const total = totalOf(readings);
    const perLeaseHour = (value: number) => round(value / LEASES / (measuredMs / 3_600_000));
    return {
      workers: workerCount,
      leaderId,
      measuredSeconds: round(measuredMs / 1000),
      total,
      leader: leaderIndex >= 0 ? readings[leaderIndex] : undefined,
      memberMaxReadUnits: Math.max(0, ...members.map((reading) => reading.readUnits)),
      memberMeanReadUnits: members.reduce((sum, reading) => sum + reading.readUnits, 0) / Math.max(1, members.length),
      readUnitsPerLeaseHour: perLeaseHour(total.readUnits),
      writeUnitsPerLeaseHour: perLeaseHour(total.writeUnits),
      writesPerLeaseHour: perLeaseHour(callsOf(total, WRITE_OPERATIONS)),
      readsPerLeaseHour: perLeaseHour(callsOf(total, READ_OPERATIONS)),
      unmeteredCalls: fleet.reduce((sum, { meter }) => sum + meter.unmetered, 0) - unmeteredBefore,
    };
  } finally {
    await stopAll(fleet);
  }
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
