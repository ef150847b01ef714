import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalStack, uniqueName } from '@shoal/local-stack';
import { ChaosFleet } from './chaos-fleet.js';
import { checkChaosLog, type ChaosReport } from './checker.js';
import { ChildProcesses } from './child-processes.js';
import { FleetView } from './fleet-view.js';
import { EventInjector } from './injector.js';
import { LogTail, ProgressTracker } from './log-tail.js';
import { PrivateNatsServer } from './private-nats.js';
import { PrivateRedisServer } from './private-redis.js';
import { ChaosProducer } from './producer.js';
import { planChaos, type ChaosPlan } from './schedule.js';
import { SharedLog, readSharedLog } from './shared-log.js';

export interface ChaosRunOptions {
  readonly seed: number;
  /** How long the load runs, with events injected throughout. */
  readonly minutes: number;
  /** Where the shared log and the workers' logs go (emptied first). */
  readonly runDir: string;
  /** Overrides of the seeded fleet size (3 to 5) and initial shard count (8 to 12). */
  readonly workers?: number;
  readonly shards?: number;
  /** Default 150. */
  readonly recordsPerSecond?: number;
  /** Level of each worker's pino log in `<runDir>/workers/<id>.log`. Default `info`. */
  readonly workerLogLevel?: string;
  /** After the load stopped, how long to wait for every record to be processed. Default 90 s. */
  readonly drainTimeoutMs?: number;
  /** Progress lines, for a person watching. */
  readonly onProgress?: (message: string) => void;
}

export interface ChaosRunResult {
  readonly plan: ChaosPlan;
  readonly report: ChaosReport;
  readonly logPath: string;
  readonly runDir: string;
  /** Things worth a look that are not checks of their own (events that could not be done, slow exits). */
  readonly notes: readonly string[];
}

const MIN_WORKERS = 3;
const MIN_SHARDS = 8;
const MAX_SHARDS = 16;
const START_TIMEOUT_MS = 60_000;
const WORKER_STOP_GRACE_MS = 20_000;
const PROGRESS_EVERY_MS = 10_000;

/**
 * One chaos run: starts the emulators, a private NATS server (and an isolated second one), a
 * private Redis, a NATS proxy and a process per worker, and a producer; injects the seeded events
 * while the load runs; stops the load, waits (bounded) until every record was processed; stops
 * everything it started, by PID, whatever happens (also on SIGINT/SIGTERM); then checks the log.
 */
export async function runChaos(options: ChaosRunOptions): Promise<ChaosRunResult> {
  const plan = planChaos({
    seed: options.seed,
    loadMs: Math.round(options.minutes * 60_000),
    ...(options.workers === undefined ? {} : { workers: options.workers }),
    ...(options.shards === undefined ? {} : { shards: options.shards }),
  });
  const progress = options.onProgress ?? (() => undefined);
  const notes: string[] = [];
  const note = (message: string) => {
    notes.push(message);
    progress(`note: ${message}`);
  };

  rmSync(options.runDir, { recursive: true, force: true });
  mkdirSync(options.runDir, { recursive: true });
  const logPath = join(options.runDir, 'chaos.jsonl');
  const log = SharedLog.open(logPath);
  const processes = new ChildProcesses();
  let stack: LocalStack | undefined;
  const onExit = () => {
    processes.killAllNow();
    if (stack) for (const pid of Object.values(stack.pids)) killQuietly(pid);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    onExit();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', onExit);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let fleet: ChaosFleet | undefined;
  let producer: ChaosProducer | undefined;
  let natsMain: PrivateNatsServer | undefined;
  let natsIsolated: PrivateNatsServer | undefined;
  let redis: PrivateRedisServer | undefined;
  try {
    progress(`seed ${plan.seed}: ${plan.workers} workers, ${plan.shards} shards, ${plan.events.length} events over ${options.minutes} min`);
    stack = await LocalStack.start();
    natsMain = await PrivateNatsServer.start(processes, 'nats-server (main)');
    natsIsolated = await PrivateNatsServer.start(processes, 'nats-server (isolated)');
    redis = await PrivateRedisServer.start(processes);
    const target = {
      applicationName: uniqueName('chaos-app'),
      streamName: uniqueName('chaos'),
      leaseTableName: uniqueName('chaos-leases'),
    };
    await stack.createStream(target.streamName, plan.shards);
    const view = new FleetView(stack, target);
    await view.ensureTable();
    log.write({
      t: 'run',
      at: Date.now(),
      seed: plan.seed,
      minutes: options.minutes,
      workers: plan.workers,
      shards: plan.shards,
      ...target,
    });

    fleet = new ChaosFleet({
      stack,
      processes,
      log,
      logPath,
      target,
      natsMainPort: natsMain.port,
      natsIsolatedPort: natsIsolated.port,
      redisUrl: redis.url,
      workerLogDir: join(options.runDir, 'workers'),
      workerLogLevel: options.workerLogLevel ?? 'info',
      seed: plan.seed,
    });
    const first = [];
    for (let i = 0; i < plan.workers; i += 1) first.push(await fleet.spawn());
    await fleet.waitUntilRunning(first, START_TIMEOUT_MS);
    await waitUntilAllLeasesOwned(view, plan.shards, START_TIMEOUT_MS);
    progress('fleet running and every lease owned; load starts');

    const tracker = new ProgressTracker(new LogTail(logPath));
    producer = new ChaosProducer({
      kinesis: stack.kinesis,
      streamName: target.streamName,
      log,
      recordsPerSecond: options.recordsPerSecond ?? 150,
    });
    const injector = new EventInjector({
      fleet,
      view,
      natsMain,
      redis,
      kinesis: stack.kinesis,
      streamName: target.streamName,
      log,
      minWorkers: MIN_WORKERS,
      minShards: MIN_SHARDS,
      maxShards: MAX_SHARDS,
      note,
    });
    const loadStart = Date.now();
    let nextProgress = loadStart + PROGRESS_EVERY_MS;
    const report = () => {
      tracker.update();
      progress(
        `+${Math.round((Date.now() - loadStart) / 1000)} s: produced ${tracker.producedCount}, processed ${tracker.processedCount}, waiting ${tracker.waitingCount}, workers ${fleet!.alive().length}`,
      );
    };
    for (const event of plan.events) {
      await sleepUntil(loadStart + event.atMs, () => {
        if (Date.now() >= nextProgress) {
          nextProgress += PROGRESS_EVERY_MS;
          report();
        }
      });
      progress(`+${Math.round((Date.now() - loadStart) / 1000)} s: ${event.kind}`);
      await injector.inject(event);
    }
    await sleepUntil(loadStart + plan.loadMs, () => {
      if (Date.now() >= nextProgress) {
        nextProgress += PROGRESS_EVERY_MS;
        report();
      }
    });

    const written = await producer.stop();
    producer = undefined;
    await injector.settle();
    progress(`load stopped after ${written} records; waiting until every record is processed`);
    const drainDeadline = Date.now() + (options.drainTimeoutMs ?? 90_000);
    for (;;) {
      tracker.update();
      if (tracker.waitingCount === 0 || Date.now() >= drainDeadline) break;
      await sleep(250);
    }
    if (tracker.waitingCount > 0) note(`${tracker.waitingCount} records still waiting when the drain deadline passed`);
    log.write({ t: 'end', at: Date.now() });
    progress('stopping the fleet');
    await fleet.stopAll(WORKER_STOP_GRACE_MS);
  } finally {
    await producer?.stop().catch(() => undefined);
    await fleet?.stopAll(WORKER_STOP_GRACE_MS).catch(() => undefined);
    await natsMain?.kill().catch(() => undefined);
    await natsIsolated?.kill().catch(() => undefined);
    await redis?.stop().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
    await processes.killAll();
    log.close();
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const { lines, malformed } = readSharedLog(logPath);
  return { plan, report: checkChaosLog(lines, malformed), logPath, runDir: options.runDir, notes };
}

async function waitUntilAllLeasesOwned(view: FleetView, shards: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { leases } = await view.read();
    if (leases.length >= shards && leases.every((lease) => lease.leaseOwner !== undefined)) return;
    if (Date.now() > deadline) throw new Error(`not every lease owned after ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Sleeps until `until` (epoch ms), calling `tick` about every 250 ms meanwhile. */
async function sleepUntil(until: number, tick: () => void): Promise<void> {
  for (;;) {
    const left = until - Date.now();
    if (left <= 0) return;
    await sleep(Math.min(left, 250));
    tick();
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
