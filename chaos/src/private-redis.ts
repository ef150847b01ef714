import { spawn, type ChildProcess } from 'node:child_process';
import type { ChildProcesses } from './child-processes.js';
import { freePort, waitUntilAccepting } from './ports.js';

const REDIS_SERVER = process.env.CHAOS_REDIS_SERVER ?? 'redis-server';
const STOP_GRACE_MS = 5_000;

/** A `redis-server` of the run's own on a free loopback port, without persistence, that can be stopped and started again. */
export class PrivateRedisServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly processes: ChildProcesses,
  ) {}

  static async start(processes: ChildProcesses): Promise<PrivateRedisServer> {
    const server = new PrivateRedisServer(await freePort(), processes);
    await server.resume();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async resume(): Promise<void> {
    if (this.child) return;
    const child = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    child.on('error', () => undefined);
    this.processes.add(child, 'redis-server');
    this.child = child;
    await waitUntilAccepting(this.port, 'redis-server');
  }

  /** SIGTERM (SIGKILL after 5 s) by PID; resolves once the server exited. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const escalate = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(escalate);
  }
}
