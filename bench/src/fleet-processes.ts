/**
 * Multi-process fleets for the handoff, failover and scale-out benchmarks: worker processes
 * (test/fixtures/worker-process.mjs, production timings, on the coordination bus), a read-only
 * view of their lease table, and rounds that tie them to a fresh stream and a steady load.
 *
 * Every process is started here and ended here by its own PID; anything still running when the
 * benchmark exits (normally or by SIGINT/SIGTERM) is killed on the way out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DynamoDbLeaseStore, leaseNamespace, type NamespaceSnapshot } from '@shoal/coordinator';
import { uniqueName, type LocalStack, type RecordLedger } from '@shoal/local-stack';
import { LoadProducer } from './load-producer.js';

/** The shared coordination bus every benchmark worker joins. */
export const NATS_URL = 'nats://127.0.0.1:4222';

const WORKER_FIXTURE = fileURLToPath(new URL('../../test/fixtures/worker-process.mjs', import.meta.url));

/** Which application, stream (or streams) and lease table a fleet works on. */
export interface FleetTarget {
  readonly applicationName: string;
  readonly streamName: string;
  /** Several streams consumed by one fleet; `streamName` is then ignored. */
  readonly streamNames?: readonly string[];
  readonly leaseTableName: string;
}

/** One `batch <shardId> <count> <epochMs>` line of a worker process. */
export interface ReportedBatch {
  readonly shardId: string;
  readonly count: number;
  /** Epoch ms at which the batch reached the processor. */
  readonly at: number;
}

const running = new Set<WorkerProcess>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    for (const worker of running) worker.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const worker of running) worker.kill('SIGKILL');
      process.exit(130);
    });
  }
}

/**
 * One worker in its own OS process with production lease timings, joined to the bus at
 * {@link NATS_URL}. Every `processed <id>` line lands in the ledger.
 *
 * Set `BENCH_WORKER_LOG_LEVEL` (or `TEST_LOG_LEVEL`; e.g. `info`) to get each worker's pino log, and
 * `BENCH_WORKER_LOG_DIR` to write it to `<dir>/<workerId>.log` instead of stderr.
 */
export class WorkerProcess {
  readonly workerId: string;
  readonly pid: number;
  readonly batches: ReportedBatch[] = [];
  readonly events: { readonly name: string; readonly at: number }[] = [];
  /** Resolves with the exit code, or the signal that ended the process. */
  readonly exited: Promise<number | NodeJS.Signals>;
  private readonly child: ChildProcess;
  private exitedAlready = false;

  static spawn(stack: LocalStack, target: FleetTarget, workerId: string, ledger: RecordLedger | undefined): WorkerProcess {
    installExitHooks();
    const worker = new WorkerProcess(stack, target, workerId, ledger);
    running.add(worker);
    return worker;
  }

  private constructor(stack: LocalStack, target: FleetTarget, workerId: string, ledger: RecordLedger | undefined) {
    this.workerId = workerId;
    const logDir = process.env.BENCH_WORKER_LOG_DIR;
    const logLevel = process.env.BENCH_WORKER_LOG_LEVEL ?? process.env.TEST_LOG_LEVEL;
    this.child = spawn(process.execPath, [WORKER_FIXTURE], {
      env: {
        ...process.env,
        ...stack.env(),
        SHOAL_APPLICATION: target.applicationName,
        ...(target.streamNames ? { SHOAL_STREAMS: target.streamNames.join(',') } : { SHOAL_STREAM: target.streamName }),
        SHOAL_LEASE_TABLE: target.leaseTableName,
        SHOAL_WORKER_ID: workerId,
        SHOAL_NATS_URL: NATS_URL,
        SHOAL_DEFAULT_TIMINGS: '1',
        TEST_LOG_LEVEL: logLevel ?? 'silent',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', logDir ? 'pipe' : 'inherit'],
    });
    if (this.child.pid === undefined) throw new Error(`could not start worker process ${workerId}`);
    this.pid = this.child.pid;
    if (logDir) {
      mkdirSync(logDir, { recursive: true });
      this.child.stderr!.pipe(createWriteStream(join(logDir, `${workerId}.log`)));
    }
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (line.startsWith('processed ')) {
        ledger?.recordProcessed(line.slice('processed '.length));
      } else if (line.startsWith('batch ')) {
        const [, shardId, count, at] = line.split(' ');
        this.batches.push({ shardId: shardId!, count: Number(count), at: Number(at) });
      } else if (line.startsWith('event ')) {
        this.events.push({ name: line.slice('event '.length), at: Date.now() });
      }
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exitedAlready = true;
        running.delete(this);
        resolve(code ?? signal!);
      }),
    );
  }

  get isRunning(): boolean {
    return !this.exitedAlready;
  }

  /** Sends a signal to this process (by its PID) if it still runs. */
  kill(signal: NodeJS.Signals): void {
    if (!this.exitedAlready) {
      try {
        process.kill(this.pid, signal);
      } catch {
        // Already gone between the check and the signal.
      }
    }
  }

  /** When (epoch ms, as seen here) the process first printed `event <name>`. */
  async waitForEvent(name: string, timeoutMs: number): Promise<number> {
    let found: number | undefined;
    await waitFor(() => (found = this.events.find((event) => event.name === name || event.name.startsWith(`${name} `))?.at) !== undefined, {
      timeoutMs,
      intervalMs: 5,
      what: `${this.workerId} printing "event ${name}"`,
    });
    return found!;
  }

  /** The time of this worker's last non-empty batch on the shard. */
  lastBatchAt(shardId: string): number | undefined {
    for (let index = this.batches.length - 1; index >= 0; index -= 1) {
      const batch = this.batches[index]!;
      if (batch.shardId === shardId && batch.count > 0) return batch.at;
    }
    return undefined;
  }

  /** The time of this worker's first non-empty batch on the shard later than `afterMs`. */
  firstBatchAfter(shardId: string, afterMs: number): number | undefined {
    return this.batches.find((batch) => batch.shardId === shardId && batch.count > 0 && batch.at > afterMs)?.at;
  }

  /** SIGTERM, then SIGKILL if the process has not exited within `graceMs`. Resolves once it exited. */
  async stop(graceMs = 15_000): Promise<number | NodeJS.Signals> {
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Stops every process of the list that still runs, all at once. */
export async function stopWorkers(workers: readonly WorkerProcess[], graceMs = 15_000): Promise<void> {
  await Promise.all(workers.map((worker) => worker.stop(graceMs)));
}

/** Reads a fleet's lease table as an operator would (consistent reads through `readNamespace`). */
export class LeaseTableView {
  private readonly store: DynamoDbLeaseStore;
  private readonly namespace: string;

  constructor(stack: LocalStack, target: FleetTarget) {
    this.store = new DynamoDbLeaseStore({ client: stack.dynamodb, tableName: target.leaseTableName });
    this.namespace = leaseNamespace(target.applicationName, target.streamNames ? undefined : target.streamName);
  }

  /** Creates the lease table if no worker has yet, so polling can start before the workers. */
  ensureTable(): Promise<void> {
    return this.store.ensureTable();
  }

  read(): Promise<NamespaceSnapshot> {
    return this.store.readNamespace(this.namespace);
  }

  /** How many leases the table names `workerId` the owner of, from the owner index (one cheap query). */
  async ownedCount(workerId: string): Promise<number> {
    const owned = await this.store.listOwnedLeases(this.namespace, workerId);
    if (!owned) throw new Error('the lease table has no owner index');
    return owned.length;
  }
}

/** Leases per owner in a snapshot; unowned leases count under `''`. */
export function leasesPerOwner(snapshot: NamespaceSnapshot): Map<string, number> {
  const counts = new Map<string, number>();
  for (const lease of snapshot.leases) counts.set(lease.leaseOwner ?? '', (counts.get(lease.leaseOwner ?? '') ?? 0) + 1);
  return counts;
}

/** Shard ids the worker owns in a snapshot. */
export function shardsOwnedBy(snapshot: NamespaceSnapshot, workerId: string): string[] {
  return snapshot.leases.filter((lease) => lease.leaseOwner === workerId).map((lease) => lease.shardId);
}

/**
 * Waits until `leaseCount` leases exist, every one is owned by one of `workerIds`, and each of
 * them holds exactly `perWorker`, with no handoff pending, continuously for `stableMs`.
 * Returns the last snapshot.
 */
export async function waitForBalance(
  view: LeaseTableView,
  workerIds: readonly string[],
  leaseCount: number,
  options: { readonly stableMs: number; readonly timeoutMs: number },
): Promise<NamespaceSnapshot> {
  const perWorker = leaseCount / workerIds.length;
  let balancedSince: number | undefined;
  let last: NamespaceSnapshot | undefined;
  await waitFor(
    async () => {
      last = await view.read();
      const counts = leasesPerOwner(last);
      const balanced =
        last.leases.length === leaseCount &&
        last.leases.every((lease) => lease.pendingOwner === undefined) &&
        workerIds.every((id) => counts.get(id) === perWorker);
      if (!balanced) balancedSince = undefined;
      else balancedSince ??= Date.now();
      return balancedSince !== undefined && Date.now() - balancedSince >= options.stableMs;
    },
    { timeoutMs: options.timeoutMs, intervalMs: 100, what: `${workerIds.length} workers holding ${perWorker} leases each` },
  );
  return last!;
}

/** Waits until the leadership row names one of `workerIds`; returns that leader. */
export async function waitForLeader(view: LeaseTableView, workerIds: readonly string[], timeoutMs = 30_000): Promise<string> {
  let leaderId: string | undefined;
  await waitFor(
    async () => {
      leaderId = (await view.read()).leadership?.leaderId;
      return leaderId !== undefined && workerIds.includes(leaderId);
    },
    { timeoutMs, what: `a leader among ${workerIds.join(', ')}` },
  );
  return leaderId!;
}

/** Polls until `check` holds; throws after `timeoutMs` naming `what`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  options: { readonly timeoutMs: number; readonly intervalMs?: number; readonly what: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    await sleep(options.intervalMs ?? 50);
  }
}

/** What one benchmark round runs on. */
/** Waits until `worker` got a batch on each of `shards` within the last two seconds. */
export async function waitUntilConsuming(worker: WorkerProcess, shards: readonly string[]): Promise<void> {
  await waitFor(() => shards.every((shard) => (worker.lastBatchAt(shard) ?? 0) > Date.now() - 2_000), {
    timeoutMs: 20_000,
    what: `${worker.workerId} consuming all its shards`,
  });
}

export interface FleetRoundOptions {
  /** Prefix of the stream and application names. */
  readonly name: string;
  readonly shards: number;
  readonly leaseTableName: string;
  /** Worker processes started with the round. */
  readonly workerIds: readonly string[];
  /** Steady load over the whole stream; 0 for none. */
  readonly recordsPerSecond: number;
  /** One PutRecords call per tick. Default 100 ms. */
  readonly tickMs?: number;
}

/**
 * One round of a fleet benchmark: a fresh stream and application, a ledger of every record,
 * the worker processes and the load. `close()` ends all of it and deletes the stream.
 */
export class FleetRound {
  readonly target: FleetTarget;
  readonly view: LeaseTableView;
  readonly ledger: RecordLedger;
  readonly workers: WorkerProcess[] = [];
  private load: LoadProducer | undefined;

  static async start(stack: LocalStack, ledger: RecordLedger, options: FleetRoundOptions): Promise<FleetRound> {
    const streamName = uniqueName(options.name);
    await stack.createStream(streamName, options.shards);
    const round = new FleetRound(stack, ledger, {
      applicationName: uniqueName(options.name),
      streamName,
      leaseTableName: options.leaseTableName,
    });
    try {
      await round.view.ensureTable();
      for (const workerId of options.workerIds) round.spawn(workerId);
      if (options.recordsPerSecond > 0) {
        round.load = new LoadProducer(stack, streamName, ledger, {
          recordsPerSecond: options.recordsPerSecond,
          ...(options.tickMs === undefined ? {} : { tickMs: options.tickMs }),
          idPrefix: streamName,
        });
      }
    } catch (error) {
      await round.close();
      throw error;
    }
    return round;
  }

  private constructor(
    private readonly stack: LocalStack,
    ledger: RecordLedger,
    target: FleetTarget,
  ) {
    this.ledger = ledger;
    this.target = target;
    this.view = new LeaseTableView(stack, target);
  }

  spawn(workerId: string): WorkerProcess {
    const worker = WorkerProcess.spawn(this.stack, this.target, workerId, this.ledger);
    this.workers.push(worker);
    return worker;
  }

  worker(workerId: string): WorkerProcess {
    const worker = this.workers.find((candidate) => candidate.workerId === workerId);
    if (!worker) throw new Error(`no worker ${workerId} in this round`);
    return worker;
  }

  /** Stops producing; resolves with the number of records written. */
  async stopLoad(): Promise<number> {
    return (await this.load?.stop()) ?? 0;
  }

  /** Stops the load and every worker process, then deletes the stream. Safe to call twice. */
  async close(): Promise<void> {
    await this.stopLoad().catch(() => undefined);
    await stopWorkers(this.workers);
    await this.stack.deleteStream(this.target.streamName).catch(() => undefined);
  }
}
