/**
 * What one node spends to hold many idle leases: one worker in this process (on the
 * coordination bus, default options) holding every lease of streams of 100 shards (one
 * application, 2,000 leases) on kinesalite to which nothing is written. Once every lease is processing and the fleet settled, it measures
 * over a fixed window: the heap the leases take (after a full GC, against the heap before the
 * worker started), the process's RSS, its CPU time as a share of one core, and GetRecords calls
 * per shard per second (counted by an SDK middleware on the worker's Kinesis client).
 * Targets: heap ≤ 64 KiB per lease, CPU ≤ 25 % of one core, ≤ 1 GetRecords per idle shard per second.
 *
 * Environment: NODE_CAPACITY_LEASES (2000), NODE_CAPACITY_SECONDS (measured window, 30),
 * NODE_CAPACITY_SETTLE_SECONDS (15).
 */
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { LocalStack } from '@shoal/local-stack';
import { pino } from 'pino';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from './fleet-processes.js';
import { newFleetTarget, newMultiStreamTarget, startInProcessWorker, type InProcessWorker } from './in-process-fleet.js';
import { printTable, sourceState, writeResult } from './report.js';

const LEASES = Number(process.env.NODE_CAPACITY_LEASES ?? 2_000);
/** Streams of at most this many shards (kinesalite reads a stream's whole description on every call). */
const SHARDS_PER_STREAM = 100;
const MEASURE_SECONDS = Number(process.env.NODE_CAPACITY_SECONDS ?? 30);
const SETTLE_SECONDS = Number(process.env.NODE_CAPACITY_SETTLE_SECONDS ?? 15);
const TARGET_HEAP_BYTES_PER_LEASE = 64 * 1024;
const TARGET_CPU_PERCENT = 25;
const TARGET_GET_RECORDS_PER_SHARD_SECOND = 1;

/** A full garbage collection, so heap figures count what is live. */
function collectGarbage(): void {
  setFlagsFromString('--expose_gc');
  (runInNewContext('gc') as () => void)();
}

export async function run(): Promise<void> {
  await using stack = await LocalStack.start({ shardLimit: LEASES + 100 });
  const logger = pino({ level: process.env.BENCH_WORKER_LOG_LEVEL ?? 'error' });
  const streams = Math.ceil(LEASES / SHARDS_PER_STREAM);
  const { target } =
    streams === 1
      ? await newFleetTarget(stack, 'node-capacity', LEASES)
      : await newMultiStreamTarget(stack, 'node-capacity', streams, SHARDS_PER_STREAM);
  if (streams > 1 && LEASES % SHARDS_PER_STREAM !== 0) throw new Error(`NODE_CAPACITY_LEASES must be a multiple of ${SHARDS_PER_STREAM}`);

  let getRecordsCalls = 0;
  const kinesis = new KinesisClient(stack.clientConfig('kinesis'));
  kinesis.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'GetRecordsCommand') getRecordsCalls += 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchGetRecordsCounter' },
  );

  collectGarbage();
  const heapBefore = process.memoryUsage().heapUsed;
  let node: InProcessWorker | undefined;
  try {
    const startedAt = Date.now();
    node = await startInProcessWorker(stack, target, 'node-capacity-a', logger, { kinesis });
    const worker = node.worker;
    await waitFor(() => worker.leases().filter((lease) => lease.state.startsWith('owned')).length === LEASES, {
      timeoutMs: 600_000,
      intervalMs: 500,
      what: `one worker processing all ${LEASES} leases`,
    });
    process.stdout.write(
      `${LEASES} leases processing after ${((Date.now() - startedAt) / 1000).toFixed(1)} s; settling ${SETTLE_SECONDS} s\n`,
    );
    await sleep(SETTLE_SECONDS * 1_000);

    const callsBefore = getRecordsCalls;
    const cpuBefore = process.cpuUsage();
    const windowStart = performance.now();
    process.stdout.write(`measuring for ${MEASURE_SECONDS} s (no records produced)\n`);
    let rssMax = 0;
    for (let second = 0; second < MEASURE_SECONDS; second += 1) {
      await sleep(1_000);
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
    }
    const windowSeconds = (performance.now() - windowStart) / 1_000;
    const cpu = process.cpuUsage(cpuBefore);
    const calls = getRecordsCalls - callsBefore;
    collectGarbage();
    const heapAfter = process.memoryUsage().heapUsed;

    const heapBytesPerLease = Math.round((heapAfter - heapBefore) / LEASES);
    const cpuPercentIdle = round(((cpu.user + cpu.system) / 1_000 / (windowSeconds * 1_000)) * 100);
    const getRecordsPerShardSecond = round(calls / LEASES / windowSeconds, 3);
    printTable(
      `node-capacity: one worker holding ${LEASES} idle leases (kinesalite, default options, coordination bus); ${windowSeconds.toFixed(1)} s measured after ${SETTLE_SECONDS} s settle`,
      [
        ['figure', 'value', 'target'],
        ['heap per lease (after GC)', `${(heapBytesPerLease / 1024).toFixed(1)} KiB`, `≤ ${TARGET_HEAP_BYTES_PER_LEASE / 1024} KiB`],
        ['RSS (max)', `${Math.round(rssMax / 1024 / 1024)} MiB`, ''],
        ['CPU (share of one core)', `${cpuPercentIdle} %`, `≤ ${TARGET_CPU_PERCENT} %`],
        ['GetRecords per shard per second', getRecordsPerShardSecond, `≤ ${TARGET_GET_RECORDS_PER_SHARD_SECOND}`],
        ['GetRecords calls in the window', calls, ''],
      ],
    );
    writeResult('node-capacity', {
      source: sourceState(),
      leases: LEASES,
      heapBytesPerLease,
      heapBytesBefore: heapBefore,
      heapBytesAfter: heapAfter,
      rssBytes: rssMax,
      cpuPercentIdle,
      getRecordsPerSecond: round(calls / windowSeconds),
      getRecordsPerShardSecond,
      measuredSeconds: round(windowSeconds),
      settleSeconds: SETTLE_SECONDS,
      met:
        heapBytesPerLease <= TARGET_HEAP_BYTES_PER_LEASE &&
        cpuPercentIdle <= TARGET_CPU_PERCENT &&
        getRecordsPerShardSecond <= TARGET_GET_RECORDS_PER_SHARD_SECOND,
      target: {
        heapBytesPerLease: TARGET_HEAP_BYTES_PER_LEASE,
        cpuPercentIdle: TARGET_CPU_PERCENT,
        getRecordsPerShardSecond: TARGET_GET_RECORDS_PER_SHARD_SECOND,
      },
      emulator: 'kinesalite',
    });
  } finally {
    await node?.stop();
    kinesis.destroy();
  }
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
