/**
 * A rolling deploy that nobody should notice: 4 worker processes (`shoal worker`, default
 * timings, coordination bus) consume 16 shards under continuous load whose records carry their
 * put time; each worker is replaced in turn as Kubernetes does it (start the new process, wait
 * until its `/readyz` answers 200, SIGTERM the old one, wait for it to exit). The latency from
 * put to processor is measured for records put in steady state (the second half of the time
 * before the deploy) and for every record put during it.
 *
 * Keys: `steadyP99Ms`, `deployP99Ms`, `addedP99Ms` (deploy − steady), `deployMaxMs`, `lost`,
 * `duplicates`. Target: `addedP99Ms` ≤ 100, nothing lost or repeated.
 *
 * Environment: ROLLING_DEPLOY_RATE (records/s, 400), ROLLING_DEPLOY_STEADY_SECONDS (20).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LocalStack, RecordLedger, freeLoopbackPort } from '@shoal/local-stack';
import { NATS_URL } from './fleet-processes.js';
import { putDuringMove, shardMoves, type ProcessedRecord } from './handoff-gaps.js';
import { newFleetTarget } from './in-process-fleet.js';
import { LoadProducer } from './load-producer.js';
import { percentile, printTable, sourceState, writeResult } from './report.js';

const SHARDS = 16;
const WORKERS = 4;
const RATE = Number(process.env.ROLLING_DEPLOY_RATE ?? 400);
const STEADY_SECONDS = Number(process.env.ROLLING_DEPLOY_STEADY_SECONDS ?? 20);
const TAIL_SECONDS = 10;
const READY_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 30_000;
const TARGET_ADDED_P99_MS = 100;
const CLI = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));
const PROCESSOR = fileURLToPath(new URL('./latency-processor.js', import.meta.url));

interface NodeProcess {
  readonly workerId: string;
  readonly metricsPort: number;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

export async function run(): Promise<void> {
  await using stack = await LocalStack.start({ shardLimit: 200 });
  const { target } = await newFleetTarget(stack, 'rolling-deploy', SHARDS);
  const latencyFile = join(mkdtempSync(join(tmpdir(), 'shoal-rolling-')), 'latency.txt');
  const ledger = new RecordLedger();
  const nodes: NodeProcess[] = [];

  const startNode = async (workerId: string): Promise<NodeProcess> => {
    const metricsPort = await freeLoopbackPort();
    const { kinesisEndpoint, dynamodbEndpoint } = stack.endpoints;
    const child = spawn(
      process.execPath,
      [
        CLI,
        'worker',
        ...['--processor', PROCESSOR, '--application', target.applicationName, '--stream', target.streamName],
        ...['--lease-table', target.leaseTableName, '--worker-id', workerId, '--initial-position', 'TRIM_HORIZON'],
        ...['--kinesis-endpoint', kinesisEndpoint, '--dynamodb-endpoint', dynamodbEndpoint, '--nats', NATS_URL],
        ...['--metrics-port', String(metricsPort), '--metrics-host', '127.0.0.1', '--log-level', 'warn'],
      ],
      { env: { ...process.env, SHOAL_BENCH_LATENCY_FILE: latencyFile }, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const node = { workerId, metricsPort, child, exited };
    nodes.push(node);
    await untilReady(node);
    return node;
  };

  let producer: LoadProducer | undefined;
  try {
    let fleet = [];
    for (let i = 0; i < WORKERS; i += 1) fleet.push(await startNode(`old-${i}`));
    producer = new LoadProducer(stack, target.streamName, ledger, { recordsPerSecond: RATE, idPrefix: 'r', keyCount: 1_024 });
    process.stdout.write(`${WORKERS} workers ready; ${RATE} records/s; steady for ${STEADY_SECONDS} s\n`);
    await sleep(STEADY_SECONDS * 1_000);

    const deployStartedAt = Date.now();
    const replaced: NodeProcess[] = [];
    for (const old of fleet) {
      const fresh = await startNode(old.workerId.replace('old', 'new'));
      const stoppedAt = Date.now();
      old.child.kill('SIGTERM');
      const code = await withTimeout(old.exited, EXIT_TIMEOUT_MS, `${old.workerId} to exit after SIGTERM`);
      process.stdout.write(`  ${fresh.workerId} ready, ${old.workerId} stopped in ${Date.now() - stoppedAt} ms (exit ${code})\n`);
      replaced.push(fresh);
    }
    const deployEndedAt = Date.now();
    fleet = replaced;
    process.stdout.write(`deploy done in ${((deployEndedAt - deployStartedAt) / 1000).toFixed(1)} s; ${TAIL_SECONDS} s more load\n`);
    await sleep(TAIL_SECONDS * 1_000);
    await producer.stop();
    producer = undefined;
    await waitForAll(latencyFile, ledger, 60_000);

    const seen = readLatencies(latencyFile);
    const produced = ledger.producedIds();
    // Steady state: the second half of the time before the deploy (shards that were idle before
    // the load began poll slowly at first).
    const steadyFrom = deployStartedAt - (STEADY_SECONDS * 1_000) / 2;
    const steady = [...seen.values()]
      .filter((entry) => entry.putAt >= steadyFrom && entry.putAt < deployStartedAt)
      .map((entry) => entry.latencyMs);
    const duringRecords = [...seen.values()].filter((entry) => entry.putAt >= deployStartedAt && entry.putAt <= deployEndedAt);
    const during = duringRecords.map((entry) => entry.latencyMs);
    // Where the added latency comes from: records put while their shard moved, and the rest.
    const moves = shardMoves([...seen.values()]).filter((move) => move.firstNewAt >= deployStartedAt);
    const moving = duringRecords.filter((entry) => putDuringMove(entry, moves));
    const notMoving = duringRecords.filter((entry) => !putDuringMove(entry, moves));
    const movingP99Ms = Math.round(
      percentile(
        moving.map((entry) => entry.latencyMs),
        99,
      ),
    );
    const notMovingP99Ms = Math.round(
      percentile(
        notMoving.map((entry) => entry.latencyMs),
        99,
      ),
    );
    const moveGaps = moves.map((move) => move.firstNewAt - move.lastOldAt);
    const lost = produced.filter((id) => !seen.has(id)).length;
    const duplicates = [...seen.values()].reduce((sum, entry) => sum + entry.times - 1, 0);
    const steadyP99Ms = Math.round(percentile(steady, 99));
    const deployP99Ms = Math.round(percentile(during, 99));
    const addedP99Ms = deployP99Ms - steadyP99Ms;
    const deployMaxMs = Math.max(0, ...during);
    printTable(
      `rolling-deploy: ${WORKERS} shoal worker processes on ${SHARDS} shards, each replaced in turn (ready, then SIGTERM); ${RATE} records/s`,
      [
        ['figure', 'value', 'target'],
        ['steady p99 (put → processor)', `${steadyP99Ms} ms`, ''],
        ['deploy p99', `${deployP99Ms} ms`, ''],
        ['added p99', `${addedP99Ms} ms`, `≤ ${TARGET_ADDED_P99_MS} ms`],
        ['deploy max', `${deployMaxMs} ms`, ''],
        ['shard moves during the deploy', moves.length, ''],
        [
          'move gap (old last batch → new first), median / max',
          `${Math.round(percentile(moveGaps, 50))} / ${Math.max(0, ...moveGaps)} ms`,
          '',
        ],
        ['records put while their shard moved: share, p99', `${percentOf(moving.length, during.length)} %, ${movingP99Ms} ms`, ''],
        ['the other deploy records: p99', `${notMovingP99Ms} ms`, ''],
        ['records during the deploy', during.length, ''],
        ['lost', lost, '0'],
        ['duplicates', duplicates, '0'],
      ],
    );
    writeResult('rolling-deploy', {
      source: sourceState(),
      shards: SHARDS,
      workers: WORKERS,
      recordsPerSecond: RATE,
      deploySeconds: Math.round((deployEndedAt - deployStartedAt) / 100) / 10,
      steadyRecords: steady.length,
      deployRecords: during.length,
      steadyP99Ms,
      steadyP50Ms: Math.round(percentile(steady, 50)),
      deployP99Ms,
      deployP50Ms: Math.round(percentile(during, 50)),
      addedP99Ms,
      deployMaxMs,
      shardMoves: moves.length,
      moveGapP50Ms: Math.round(percentile(moveGaps, 50)),
      moveGapMaxMs: Math.max(0, ...moveGaps),
      recordsPutWhileMoving: moving.length,
      movingP99Ms,
      notMovingP99Ms,
      lost,
      duplicates,
      met: addedP99Ms <= TARGET_ADDED_P99_MS && lost === 0 && duplicates === 0,
      target: { addedP99Ms: TARGET_ADDED_P99_MS, lost: 0, duplicates: 0 },
      emulator: 'kinesalite',
    });
  } finally {
    await producer?.stop().catch(() => undefined);
    for (const node of nodes) if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGKILL');
  }
}

/** Polls the node's `/readyz` until it answers 200. */
async function untilReady(node: NodeProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const status = await fetch(`http://127.0.0.1:${node.metricsPort}/readyz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    await sleep(100);
  }
  throw new Error(`rolling-deploy: ${node.workerId} was not ready within ${READY_TIMEOUT_MS} ms`);
}

interface SeenRecord extends ProcessedRecord {
  readonly latencyMs: number;
  times: number;
}

/** Each record id with its first processing (latency, shard, process) and how many times it was processed. */
function readLatencies(path: string): Map<string, SeenRecord> {
  const seen = new Map<string, SeenRecord>();
  if (!existsSync(path)) return seen;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.length === 0) continue;
    const [id, putAt, processedAt, shardId, processId] = line.split(' ');
    const known = seen.get(id!);
    if (known) known.times += 1;
    else {
      seen.set(id!, {
        putAt: Number(putAt),
        processedAt: Number(processedAt),
        latencyMs: Number(processedAt) - Number(putAt),
        shardId: shardId!,
        processId: processId!,
        times: 1,
      });
    }
  }
  return seen;
}

function percentOf(part: number, whole: number): string {
  return whole === 0 ? '0' : ((100 * part) / whole).toFixed(1);
}

async function waitForAll(path: string, ledger: RecordLedger, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const wanted = ledger.producedIds().length;
  while (Date.now() < deadline) {
    if (readLatencies(path).size >= wanted) return;
    await sleep(250);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`rolling-deploy: timed out waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
