import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort, killAndWait, untilAccepting } from './ports.js';

/** A NATS server of the test's own on a free loopback port, which the test may stop and start again. */
export class PrivateNatsServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    /** A configuration file for settings the command line cannot give (`max_payload`). */
    private readonly configFile: string | undefined,
  ) {}

  /**
   * `maxPayload`: the largest message the server accepts, in bytes (default 1 MiB); `config`:
   * more of the server's configuration (an `authorization` or `tls` block, say).
   */
  static async start(options: { readonly maxPayload?: number; readonly config?: string } = {}): Promise<PrivateNatsServer> {
    let configFile: string | undefined;
    if (options.maxPayload !== undefined || options.config !== undefined) {
      configFile = join(mkdtempSync(join(tmpdir(), 'shoal-nats-')), 'nats.conf');
      const maxPayload = options.maxPayload === undefined ? '' : `max_payload: ${options.maxPayload}\n`;
      writeFileSync(configFile, `${maxPayload}${options.config ?? ''}\n`);
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
    await untilAccepting(this.port, 'nats-server');
  }

  /** Kills the server this object started (by its PID) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    await killAndWait(child);
  }
}
