import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

/** The built `shoal` binary (scripts/test.sh builds first). */
const CLI = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

/** One `shoal` process: its output so far, and how it ended. */
export interface ShoalRun {
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly kill: (signal: NodeJS.Signals) => void;
}

/**
 * `shoal` as a container runs it: a process with the flags and `SHOAL_*` variables given and no
 * other environment. Every process a test started is killed (by its PID) after the test.
 */
export function useShoalProcesses(): (args: readonly string[], env?: Record<string, string>) => ShoalRun {
  const started: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of started.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  });
  return (args, env = {}) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, exited, stdout: () => stdout, stderr: () => stderr, kill: (signal) => child.kill(signal) };
  };
}

/** Flags that point a worker at the emulators and read every shard from its start. */
export function fromTheStart({ kinesisEndpoint, dynamodbEndpoint }: { kinesisEndpoint: string; dynamodbEndpoint: string }): string[] {
  return ['--initial-position', 'TRIM_HORIZON', '--kinesis-endpoint', kinesisEndpoint, '--dynamodb-endpoint', dynamodbEndpoint];
}

/** Resolves with the exit code, or fails the test after `timeoutMs`. */
export async function exitCodeWithin(run: ShoalRun, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`shoal did not exit within ${timeoutMs} ms; stderr: ${run.stderr()}`)), timeoutMs);
  });
  try {
    return await Promise.race([run.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
