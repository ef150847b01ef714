/**
 * DynamoDB cost in steady state: 64 leases on four in-process workers with default timings and
 * the coordination bus on the shared NATS server. Each worker gets its own DynamoDB client with
 * an AWS SDK middleware (initialize step, so once per call however often it is retried) counting
 * every call by command. Counting starts once the fleet is balanced and has settled, and runs
 * for a fixed time. No records are produced: this is the cost of holding leases, not of
 * checkpointing (which is one write per checkpoint the processor asks for).
 * Target: ≤ 60 writes per lease-hour (KCL's default renewal ≈ 1,090).
 *
 * Environment: DDB_COST_SECONDS (measured time, default 60), DDB_COST_SETTLE_SECONDS (5),
 * DDB_COST_SHARDS (64), DDB_COST_WORKERS (4).
 */
import { NatsCoordinationBus, connectNats, type NatsLink } from '@shoal/coordinator';
import { LocalStack, uniqueName, type EmulatorClientConfig } from '@shoal/local-stack';
import { Worker } from '@shoal/runtime';
import { pino } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeaseTableView, NATS_URL, leasesPerOwner, waitForBalance } from './fleet-processes.js';
import { printTable, sourceState, writeResult } from './report.js';

const MEASURE_SECONDS = Number(process.env.DDB_COST_SECONDS ?? 60);
const SETTLE_SECONDS = Number(process.env.DDB_COST_SETTLE_SECONDS ?? 5);
const SHARDS = Number(process.env.DDB_COST_SHARDS ?? 64);
const WORKERS = Number(process.env.DDB_COST_WORKERS ?? 4);
const TARGET_WRITES_PER_LEASE_HOUR = 60;
const KCL_WRITES_PER_LEASE_HOUR = 1_090;

/** lib-dynamodb commands run as their low-level commands; these names cover both spellings. */
const COMMAND_NAMES: Record<string, string> = {
  Put: 'PutItem',
  Get: 'GetItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchWrite: 'BatchWriteItem',
  BatchGet: 'BatchGetItem',
  TransactWrite: 'TransactWriteItems',
  TransactGet: 'TransactGetItems',
};
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
const READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);

type DynamoDbClient = LocalStack['dynamodb'];
type CallCounts = Map<string, number>;

/**
 * A DynamoDB client of the same class the runtime checks with `instanceof` (taken from the local
 * stack's own client, so the bench needs no dependency of its own on the SDK package), with the
 * counting middleware.
 */
function countingClient(stack: LocalStack, counts: CallCounts): DynamoDbClient {
  const ClientClass = stack.dynamodb.constructor as new (config: EmulatorClientConfig) => DynamoDbClient;
  const client = new ClientClass(stack.clientConfig('dynamodb'));
  client.middlewareStack.add(
    (next, context) => (args) => {
      const raw = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      const name = COMMAND_NAMES[raw] ?? raw;
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'benchCallCounter' },
  );
  return client;
}

interface FleetWorker {
  readonly workerId: string;
  readonly worker: Worker;
  readonly running: Promise<void>;
  readonly counts: CallCounts;
  readonly client: DynamoDbClient;
  readonly bus: NatsCoordinationBus;
  readonly link: NatsLink;
}

export async function run(): Promise<void> {
  await using stack = await LocalStack.start();
  const streamName = uniqueName('ddb-cost');
  await stack.createStream(streamName, SHARDS);
  const target = { applicationName: uniqueName('ddb-cost'), streamName, leaseTableName: uniqueName('bench-ddb-cost-leases') };
  const view = new LeaseTableView(stack, target);
  await view.ensureTable();
  const logger = pino({ level: process.env.BENCH_WORKER_LOG_LEVEL ?? 'warn' });
  const workerIds = Array.from({ length: WORKERS }, (_, index) => `ddb-cost-${String.fromCharCode(97 + index)}`);
  const fleet: FleetWorker[] = [];
  try {
    for (const workerId of workerIds) {
      const counts: CallCounts = new Map();
      const client = countingClient(stack, counts);
      const link = connectNats({ servers: NATS_URL.replace('nats://', ''), name: workerId, logger });
      await link.ready(2_000);
      const bus = new NatsCoordinationBus({ link, application: target.applicationName, logger });
      const worker = await Worker.create({
        applicationName: target.applicationName,
        streamName,
        leaseTableName: target.leaseTableName,
        workerId,
        initialPosition: 'TRIM_HORIZON',
        kinesis: stack.clientConfig('kinesis'),
        dynamoDb: client,
        coordinationBus: bus,
        logger: logger.child({ workerId }),
        processorFactory: () => ({
          async processRecords({ checkpointer }) {
            await checkpointer.checkpoint();
          },
          async shardEnded({ checkpointer }) {
            await checkpointer.checkpoint();
          },
          async shutdownRequested({ checkpointer }) {
            await checkpointer.checkpoint();
          },
        }),
      });
      fleet.push({ workerId, worker, running: worker.run(), counts, client, bus, link });
    }
    if (fleet.every(({ counts }) => counts.size === 0)) throw new Error('the counting middleware saw no DynamoDB call');

    const balancedAt = Date.now();
    await waitForBalance(view, workerIds, SHARDS, { stableMs: 1_000, timeoutMs: 120_000 });
    process.stdout.write(
      `balanced ${SHARDS} leases over ${WORKERS} workers in ${((Date.now() - balancedAt) / 1000).toFixed(1)} s; settling ${SETTLE_SECONDS} s\n`,
    );
    await sleep(SETTLE_SECONDS * 1_000);

    const before = await view.read();
    const startCounts = fleet.map(({ counts }) => new Map(counts));
    const started = performance.now();
    process.stdout.write(`measuring for ${MEASURE_SECONDS} s (no records produced)\n`);
    await sleep(MEASURE_SECONDS * 1_000);
    const measuredMs = performance.now() - started;
    const perWorker = fleet.map(({ counts }, index) => difference(counts, startCounts[index]!));
    const after = await view.read();

    const leaderId = after.leadership?.leaderId;
    const movedDuring = after.leases.filter(
      (lease) => lease.leaseCounter !== before.leases.find((previous) => previous.leaseKey === lease.leaseKey)?.leaseCounter,
    ).length;
    const totals = new Map<string, number>();
    for (const counts of perWorker) for (const [name, count] of counts) totals.set(name, (totals.get(name) ?? 0) + count);
    const commands = [...totals.keys()].sort();
    const hours = measuredMs / 3_600_000;
    const perLeaseHour = (count: number) => count / SHARDS / hours;
    const writes = sumOf(totals, (name) => WRITES.has(name));
    const reads = sumOf(totals, (name) => READS.has(name));
    const other = sumOf(totals, (name) => !WRITES.has(name) && !READS.has(name));
    const writesPerLeaseHour = round(perLeaseHour(writes));
    const readsPerLeaseHour = round(perLeaseHour(reads));

    const kind = (name: string) => (WRITES.has(name) ? 'write' : READS.has(name) ? 'read' : 'other');
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
          ...perWorker.map((counts) => sumOf(counts, (name) => WRITES.has(name))),
          Math.round(writes / hours),
          writesPerLeaseHour,
        ],
        [
          'reads',
          '',
          reads,
          ...perWorker.map((counts) => sumOf(counts, (name) => READS.has(name))),
          Math.round(reads / hours),
          readsPerLeaseHour,
        ],
      ],
    );
    const finalCounts = leasesPerOwner(after);
    writeResult('ddb-cost', {
      source: sourceState(),
      writesPerLeaseHour,
      readsPerLeaseHour,
      writes,
      reads,
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
    await Promise.all(fleet.map(({ worker }) => worker.shutdown()));
    for (const { worker, running, bus, link, client } of fleet) {
      await running.catch(() => undefined);
      await worker.close();
      await bus.close();
      await link.close();
      client.destroy();
    }
  }
}

function difference(now: CallCounts, then: CallCounts): CallCounts {
  return new Map([...now].map(([name, count]) => [name, count - (then.get(name) ?? 0)] as const).filter(([, count]) => count > 0));
}

function sumOf(counts: CallCounts, include: (name: string) => boolean): number {
  let total = 0;
  for (const [name, count] of counts) if (include(name)) total += count;
  return total;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
