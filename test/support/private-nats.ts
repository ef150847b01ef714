import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort } from './ports.js';

/** A NATS server of the test's own on a free loopback port, which the test may stop and start again. */
export class PrivateNatsServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    /** A configuration file for settings the command line cannot give (`max_payload`). */
    private readonly configFile: string | undefined,
  ) {}

  /** `maxPayload`: the largest message the server accepts, in bytes (default 1 MiB). */
  static async start(options: { readonly maxPayload?: number } = {}): Promise<PrivateNatsServer> {
    let configFile: string | undefined;
    if (options.maxPayload !== undefined) {
      configFile = join(mkdtempSync(join(tmpdir(), 'shoal-nats-')), 'nats.conf');
      writeFileSync(configFile, `max_payload: ${options.maxPayload}\n`);
    }
    const server = new PrivateNatsServer(await closedPort(), configFile);
    await server.resume();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again) on the same port and waits until it accepts connections. */
  async resume(): Promise<void> {
    if (this.process) return;
    const config = this.configFile === undefined ? [] : ['-c', this.configFile];
    this.process = spawn('/usr/sbin/nats-server', [...config, '-a', '127.0.0.1', '-p', String(this.port)], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (Date.now() > deadline) throw new Error(`nats-server did not start on 127.0.0.1:${this.port}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Kills the server this object started (by its PID) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
