import { spawn, type ChildProcess } from 'node:child_process';
import type { ChildProcesses } from './child-processes.js';
import { freePort, waitUntilAccepting } from './ports.js';

const NATS_SERVER = process.env.CHAOS_NATS_SERVER ?? '/usr/sbin/nats-server';

/**
 * A `nats-server` of the run's own on a free loopback port (no JetStream: the workers' bus needs
 * plain subjects and request/reply only). It can be killed and started again on the same port.
 */
export class PrivateNatsServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly processes: ChildProcesses,
    private readonly name: string,
  ) {}

  static async start(processes: ChildProcesses, name: string): Promise<PrivateNatsServer> {
    const server = new PrivateNatsServer(await freePort(), processes, name);
    await server.resume();
    return server;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the server (again) on its port and waits until it accepts connections. */
  async resume(): Promise<void> {
    if (this.child) return;
    const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(this.port)], { stdio: 'ignore' });
    child.on('error', () => undefined);
    this.processes.add(child, this.name);
    this.child = child;
    await waitUntilAccepting(this.port, this.name);
  }

  /** SIGKILLs the server (by its PID) and waits until it exited. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}
