import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalStack } from '@shoal/local-stack';
import type { ChildProcesses } from './child-processes.js';
import type { WorkerFaultKind } from './event-kinds.js';
import { isWorkerMessage, type ChaosWorkerConfig, type RunnerMessage } from './ipc-messages.js';
import { NatsPartitionProxy } from './nats-proxy.js';
import type { SharedLog } from './shared-log.js';

/** The built worker entry; the same path from `src/` (tests) and `dist/`. */
const WORKER_ENTRY = fileURLToPath(new URL('../dist/worker.js', import.meta.url));

export interface FleetTarget {
  readonly applicationName: string;
  readonly streamName: string;
  readonly leaseTableName: string;
}

export interface ChaosFleetOptions {
  readonly stack: LocalStack;
  readonly processes: ChildProcesses;
  readonly log: SharedLog;
  readonly logPath: string;
  readonly target: FleetTarget;
  readonly natsMainPort: number;
  readonly natsIsolatedPort: number;
  readonly redisUrl: string;
  /** Each worker's pino log (and stderr) goes to `<workerLogDir>/<workerId>.log`. */
  readonly workerLogDir: string;
  readonly workerLogLevel: string;
  readonly seed: number;
}

/** One chaos worker process and its NATS proxy. */
export class ChaosWorkerProcess {
  /** Set by the runner while the process is SIGSTOPped. */
  paused = false;
  /** Set once the runner sent SIGTERM or SIGKILL: it is on its way out. */
  leaving = false;
  /** The runner does not start another event on this worker before this time (epoch ms). */
  busyUntil = 0;
  private started = false;
  private exitedAlready = false;
  readonly exited: Promise<void>;

  constructor(
    readonly workerId: string,
    readonly pid: number,
    readonly proxy: NatsPartitionProxy,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (message) => {
      if (isWorkerMessage(message) && message.type === 'running') this.started = true;
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        this.exitedAlready = true;
        resolve();
      }),
    );
  }

  /** Created its worker and is running it. */
  get running(): boolean {
    return this.started && !this.exitedAlready;
  }

  get hasExited(): boolean {
    return this.exitedAlready;
  }

  /** Running, not paused, not partitioned, not leaving, and not in the middle of another event. */
  available(now: number): boolean {
    return this.running && !this.paused && !this.leaving && !this.proxy.isPartitioned && now >= this.busyUntil;
  }

  /** Sends a signal by PID if the process still runs. */
  signal(signal: NodeJS.Signals): void {
    if (this.exitedAlready) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // Exited between the check and the signal.
    }
  }

  /** Switches an SDK fault on in the worker for `durationMs` (it lifts it on its own). */
  fault(fault: WorkerFaultKind, durationMs: number, probability: number): void {
    const message: RunnerMessage = { type: 'fault', fault, durationMs, probability };
    if (this.child.connected) this.child.send(message);
  }
}

/**
 * Starts and tracks the chaos worker processes: fresh ids (w1, w2, …), a NATS proxy each, a
 * `spawn` line and an `exit` line in the shared log for each process.
 */
export class ChaosFleet {
  readonly workers: ChaosWorkerProcess[] = [];
  private nextId = 1;

  constructor(private readonly options: ChaosFleetOptions) {
    mkdirSync(options.workerLogDir, { recursive: true });
  }

  /** Workers whose process has not exited. */
  alive(): ChaosWorkerProcess[] {
    return this.workers.filter((worker) => !worker.hasExited);
  }

  find(workerId: string | undefined): ChaosWorkerProcess | undefined {
    return this.workers.find((worker) => worker.workerId === workerId && !worker.hasExited);
  }

  async spawn(): Promise<ChaosWorkerProcess> {
    const { options } = this;
    const workerId = `w${this.nextId++}`;
    const proxy = await NatsPartitionProxy.start(options.natsMainPort, options.natsIsolatedPort);
    const config: ChaosWorkerConfig = {
      workerId,
      ...options.target,
      natsUrl: proxy.url,
      redisUrl: options.redisUrl,
      logPath: options.logPath,
      workerLogLevel: options.workerLogLevel,
      seed: (options.seed * 7919 + this.nextId) >>> 0,
    };
    const stderr = openSync(join(options.workerLogDir, `${workerId}.log`), 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [WORKER_ENTRY], {
        env: {
          ...process.env,
          ...options.stack.env(),
          CHAOS_WORKER_CONFIG: JSON.stringify(config),
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
        stdio: ['ignore', 'ignore', stderr, 'ipc'],
      });
    } finally {
      closeSync(stderr);
    }
    child.on('error', () => undefined);
    const pid = options.processes.add(child, `chaos worker ${workerId}`);
    const worker = new ChaosWorkerProcess(workerId, pid, proxy, child);
    this.workers.push(worker);
    options.log.write({ t: 'spawn', worker: workerId, pid, at: Date.now() });
    child.once('exit', (code, signal) => {
      options.log.write({ t: 'exit', worker: workerId, code, signal, at: Date.now() });
      void proxy.close();
    });
    return worker;
  }

  /** Waits until every listed worker is running (created its worker), or throws after `timeoutMs`. */
  async waitUntilRunning(workers: readonly ChaosWorkerProcess[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!workers.every((worker) => worker.running)) {
      const dead = workers.find((worker) => worker.hasExited);
      if (dead) throw new Error(`chaos worker ${dead.workerId} exited while starting (see its log)`);
      if (Date.now() > deadline) throw new Error(`chaos workers not running after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Ends every worker: resumes paused ones, heals partitions, sends SIGTERM (a graceful drain),
   * and SIGKILLs whatever still runs after `graceMs`.
   */
  async stopAll(graceMs: number): Promise<void> {
    const alive = this.alive();
    for (const worker of alive) {
      worker.signal('SIGCONT');
      worker.paused = false;
      if (worker.proxy.isPartitioned) worker.proxy.heal();
      worker.leaving = true;
      worker.signal('SIGTERM');
    }
    const timer = setTimeout(() => alive.forEach((worker) => worker.signal('SIGKILL')), graceMs);
    await Promise.all(alive.map((worker) => worker.exited));
    clearTimeout(timer);
  }
}
