import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LocalStack, RecordLedger } from '@shoal/local-stack';

const FIXTURE = fileURLToPath(new URL('../fixtures/worker-process.mjs', import.meta.url));

/** What a worker process needs to know about its stream (a `TestStream` has all of it). */
export interface WorkerProcessTarget {
  readonly applicationName: string;
  readonly streamName: string;
  readonly leaseTableName: string;
  readonly ledger: RecordLedger;
}

/** One batch as the process reported it: when (epoch ms) it reached the processor. */
export interface ReportedBatch {
  readonly shardId: string;
  readonly count: number;
  readonly at: number;
  /** The record ids of the batch, in order. */
  readonly ids: string[];
}

/** A worker running in its own OS process (see fixtures/worker-process.mjs). */
export interface WorkerProcess {
  readonly workerId: string;
  readonly child: ChildProcess;
  readonly events: string[];
  readonly batches: ReportedBatch[];
  /** Resolves with the exit code (or the signal that ended it). */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** The worker's log lines, parsed, when `logLevel` was given. */
  readonly logs: { level: number; msg: string; time: number; [key: string]: unknown }[];
}

export interface SpawnWorkerOptions {
  readonly ledger?: RecordLedger;
  /** Join the coordination bus at this NATS URL. */
  readonly natsUrl?: string;
  /** Keep the read budget and load reports in Redis at this URL. */
  readonly redisUrl?: string;
  /** Production lease timings instead of the fast test ones. */
  readonly defaultTimings?: boolean;
  /** Every record's side effect goes to this shared file (see fixtures/worker-process.mjs). */
  readonly sideEffectsFile?: string;
  /** Simulated work before each record (with `sideEffectsFile`). */
  readonly recordDelayMs?: number;
  /** With `sideEffectsFile`: checkpoint once per batch instead of after every record. */
  readonly checkpointEveryBatch?: boolean;
  /** Read by enhanced fan-out through this stream consumer. */
  readonly fanOutConsumer?: string;
  /** Keep the worker's log lines at this level and above (pino JSON) in `logs`. */
  readonly logLevel?: 'debug' | 'info' | 'warn';
}

/** Spawns a worker process on the stream; every record it reports lands in the ledger. */
export function spawnWorkerProcess(
  stack: LocalStack,
  target: WorkerProcessTarget,
  workerId: string,
  options: SpawnWorkerOptions = {},
): WorkerProcess {
  const ledger = options.ledger ?? target.ledger;
  const child = spawn(process.execPath, [FIXTURE], {
    env: {
      ...process.env,
      ...stack.env(),
      SHOAL_APPLICATION: target.applicationName,
      SHOAL_STREAM: target.streamName,
      SHOAL_LEASE_TABLE: target.leaseTableName,
      SHOAL_WORKER_ID: workerId,
      ...(options.natsUrl ? { SHOAL_NATS_URL: options.natsUrl } : {}),
      ...(options.redisUrl ? { SHOAL_REDIS_URL: options.redisUrl } : {}),
      ...(options.defaultTimings ? { SHOAL_DEFAULT_TIMINGS: '1' } : {}),
      ...(options.sideEffectsFile ? { SHOAL_SIDE_EFFECTS: options.sideEffectsFile } : {}),
      ...(options.recordDelayMs ? { SHOAL_RECORD_DELAY_MS: String(options.recordDelayMs) } : {}),
      ...(options.checkpointEveryBatch ? { SHOAL_CHECKPOINT_EVERY: 'batch' } : {}),
      ...(options.fanOutConsumer ? { SHOAL_FAN_OUT_CONSUMER: options.fanOutConsumer } : {}),
      ...(options.logLevel ? { TEST_LOG_LEVEL: options.logLevel } : {}),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', options.logLevel ? 'pipe' : 'inherit'],
  });
  const logs: WorkerProcess['logs'] = [];
  if (options.logLevel) {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      try {
        logs.push(JSON.parse(line) as WorkerProcess['logs'][number]);
      } catch {
        process.stderr.write(`${line}\n`);
      }
    });
  }
  const events: string[] = [];
  const batches: ReportedBatch[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('processed ')) {
      const id = line.slice('processed '.length);
      ledger.recordProcessed(id);
      batches.at(-1)?.ids.push(id);
    } else if (line.startsWith('batch ')) {
      const [, shardId, count, at] = line.split(' ');
      batches.push({ shardId: shardId!, count: Number(count), at: Number(at), ids: [] });
    } else if (line.startsWith('event ')) {
      events.push(line.slice('event '.length));
    }
  });
  const exited = new Promise<number | NodeJS.Signals>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal!)));
  return { workerId, child, events, batches, exited, logs };
}

/** Ends every process still running (SIGCONT first, in case it was stopped) and waits for it. */
export async function killAll(processes: WorkerProcess[]): Promise<void> {
  for (const { child, exited } of processes.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await exited;
  }
}
