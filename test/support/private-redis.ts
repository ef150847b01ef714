import { spawn, type ChildProcess } from 'node:child_process';
import { closedPort, killAndWait, untilAccepting } from './ports.js';
import type { LoopbackTlsFiles } from './tls-files.js';

/** A Redis server of the test's own on a free loopback port, with a password and, if asked, TLS only. */
export class PrivateRedisServer {
  private constructor(
    readonly port: number,
    private readonly process: ChildProcess,
  ) {}

  static async start(options: { readonly password: string; readonly tls?: LoopbackTlsFiles }): Promise<PrivateRedisServer> {
    const port = await closedPort();
    const listen = options.tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile]
      : ['--port', String(port)];
    const tlsClients = options.tls ? ['--tls-ca-cert-file', options.tls.certFile, '--tls-auth-clients', 'no'] : [];
    const child = spawn(
      '/usr/bin/redis-server',
      ['--bind', '127.0.0.1', ...listen, ...tlsClients, '--requirepass', options.password, '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await untilAccepting(port, 'redis-server');
    return new PrivateRedisServer(port, child);
  }

  /** Kills the server this object started (by its PID) and waits for it to exit. */
  async stop(): Promise<void> {
    await killAndWait(this.process);
  }
}
