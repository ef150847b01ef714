import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { EmulatorKind } from './emulator-kind.js';
import { EmulatorStartError } from './emulator-start-error.js';
import { emulatorHostPath } from './host-script.js';
import { OutputTail } from './output-tail.js';

/** Options for {@link EmulatorProcess.start}. */
export interface EmulatorProcessOptions {
  /** Total shard limit (kinesalite `shardLimit`, kinesis-local `SHARD_LIMIT`). Default 200. */
  shardLimit?: number;
  /** Default region of kinesis-local. Default `us-east-1`. */
  region?: string;
  /** kinesis-local `LOG_LEVEL` (`ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`). Default `WARN`. */
  logLevel?: string;
  /** How long the host may take to report its port. Default 20 000 ms. */
  startTimeoutMs?: number;
  /** How many output lines to keep for error messages. Default 50. */
  outputLines?: number;
}

type HostMessage = { type: 'ready'; emulator: string; port: number; pid: number } | { type: 'error'; emulator: string; message: string };

const DEFAULT_START_TIMEOUT_MS = 20_000;
/** After SIGTERM, how long to wait before SIGKILL. */
const TERM_GRACE_MS = 5_000;
/** kinesis-local picks its (unused) TLS port just before binding it; retry if someone took it. */
const KINESIS_LOCAL_ATTEMPTS = 3;

/** Every host still running, killed with SIGKILL when this process exits (last resort). */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          // Already gone.
        }
      }
    });
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Resolves when the child's stdio has closed (so its output is complete), or after `capMs`. */
function waitForClose(child: ChildProcess, capMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, capMs);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    if (child.stdout?.readableEnded !== false && child.stderr?.readableEnded !== false && hasExited(child)) done();
    else child.once('close', done);
  });
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (hasExited(child)) return;
  child.ref();
  const exited = waitForExit(child);
  child.kill(signal);
  if (signal === 'SIGKILL') return exited;
  const escalate = setTimeout(() => child.kill('SIGKILL'), TERM_GRACE_MS);
  await exited;
  clearTimeout(escalate);
}

function unrefStream(stream: Readable | null): void {
  (stream as (Readable & { unref?: () => void }) | null)?.unref?.();
}

function isHostMessage(value: unknown): value is HostMessage {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return type === 'ready' || type === 'error';
}

/**
 * One emulator running in its own OS process (the host script `host/emulator-host.cjs`),
 * bound to 127.0.0.1 on a port the OS picked. The host exits when this process goes away.
 *
 * Once started, the child does not keep this process's event loop alive; {@link stop} does
 * while it waits for the child to exit.
 */
export class EmulatorProcess {
  /** Which emulator runs here. */
  readonly kind: EmulatorKind;
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** OS process id of the host. */
  readonly pid: number;
  readonly #child: ChildProcess;
  readonly #tail: OutputTail;
  #stopping: Promise<void> | undefined;

  private constructor(kind: EmulatorKind, port: number, child: ChildProcess, tail: OutputTail) {
    this.kind = kind;
    this.port = port;
    this.endpoint = `http://127.0.0.1:${port}`;
    // A child that reported a port was spawned, so it has a pid.
    this.pid = child.pid ?? -1;
    this.#child = child;
    this.#tail = tail;
  }

  /**
   * Starts the host for `kind` and resolves once the emulator listens.
   *
   * @throws {@link EmulatorStartError} if the host crashes, reports an error, or does not report
   *   a port within `startTimeoutMs`; whatever was started is killed first.
   */
  static async start(kind: EmulatorKind, options: EmulatorProcessOptions = {}): Promise<EmulatorProcess> {
    const attempts = kind === 'kinesis-local' ? KINESIS_LOCAL_ATTEMPTS : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await EmulatorProcess.#startOnce(kind, options);
      } catch (err) {
        const retry = attempt < attempts && err instanceof EmulatorStartError && err.message.includes('EADDRINUSE');
        if (!retry) throw err;
      }
    }
  }

  static async #startOnce(kind: EmulatorKind, options: EmulatorProcessOptions): Promise<EmulatorProcess> {
    const hostOptions = { shardLimit: options.shardLimit, region: options.region, logLevel: options.logLevel };
    const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const tail = new OutputTail(options.outputLines ?? 50);
    // spawn, not fork: fork would pass on this process's execArgv (e.g. a test runner's loaders).
    const child = spawn(process.execPath, [emulatorHostPath(), kind, JSON.stringify(hostOptions)], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      windowsHide: true,
    });
    track(child);
    // Always drain the pipes (a full pipe would block the emulator), keeping only the tail.
    child.stdout?.on('data', (chunk: Buffer) => tail.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => tail.push(chunk));
    // After start-up, errors (e.g. a failed kill) must not become unhandled 'error' events.
    child.on('error', () => undefined);

    let port: number;
    try {
      port = await new Promise<number>((resolve, reject) => {
        const finish = (error: Error | undefined, value?: number): void => {
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('exit', onExit);
          child.off('error', onError);
          if (error !== undefined || value === undefined) reject(error ?? new Error('no port'));
          else resolve(value);
        };
        const onMessage = (message: unknown): void => {
          if (!isHostMessage(message)) return;
          if (message.type === 'ready') finish(undefined, message.port);
          else finish(new Error(message.message.split('\n')[0] ?? message.message));
        };
        const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
          finish(new Error(`host exited (${signal ?? `code ${String(code)}`}) before reporting a port`));
        const onError = (err: Error): void => finish(err);
        const timer = setTimeout(() => finish(new Error(`no port reported within ${timeoutMs} ms`)), timeoutMs);
        child.on('message', onMessage);
        child.once('exit', onExit);
        child.once('error', onError);
      });
    } catch (err) {
      await kill(child, 'SIGKILL');
      await waitForClose(child, 1_000);
      const reason = err instanceof Error ? err.message : String(err);
      throw new EmulatorStartError(kind, reason, tail.toString(), { cause: err, pid: child.pid });
    }

    // Started: don't let the emulator keep this process alive; the host exits when we do.
    child.unref();
    child.channel?.unref();
    unrefStream(child.stdout);
    unrefStream(child.stderr);
    return new EmulatorProcess(kind, port, child, tail);
  }

  /** True until the host has exited. */
  get running(): boolean {
    return !hasExited(this.#child);
  }

  /** The last lines the emulator wrote (stdout and stderr interleaved). */
  output(): string {
    return this.#tail.toString();
  }

  /**
   * Stops the host and resolves once it has exited. kinesalite and dynalite get SIGTERM (then
   * SIGKILL after 5 s); kinesis-local, which ignores SIGTERM on its own, gets SIGKILL.
   * Idempotent: later calls return the same promise.
   */
  stop(): Promise<void> {
    this.#stopping ??= kill(this.#child, this.kind === 'kinesis-local' ? 'SIGKILL' : 'SIGTERM');
    return this.#stopping;
  }
}
