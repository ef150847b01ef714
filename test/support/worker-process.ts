import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LocalStack, RecordLedger } from '@shoal/local-stack';
import type { TestStream } from './worker-harness.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/worker-process.mjs', import.meta.url));

/** A worker running in its own OS process (see fixtures/worker-process.mjs). */
export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly events: string[];
  /** Resolves with the exit code (or the signal that ended it). */
  readonly exited: Promise<number | NodeJS.Signals>;
}

/** Spawns a worker process on the stream; every record it reports lands in the ledger. */
export function spawnWorkerProcess(
  stack: LocalStack,
  stream: TestStream,
  workerId: string,
  ledger: RecordLedger = stream.ledger,
): WorkerProcess {
  const child = spawn(process.execPath, [FIXTURE], {
    env: {
      ...process.env,
      ...stack.env(),
      SHOAL_APPLICATION: stream.applicationName,
      SHOAL_STREAM: stream.streamName,
      SHOAL_LEASE_TABLE: stream.leaseTableName,
      SHOAL_WORKER_ID: workerId,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const events: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('processed ')) ledger.recordProcessed(line.slice('processed '.length));
    else if (line.startsWith('event ')) events.push(line.slice('event '.length));
  });
  const exited = new Promise<number | NodeJS.Signals>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal!)));
  return { child, events, exited };
}
