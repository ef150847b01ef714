import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Whether the worker is ready for traffic, and if not, why. */
export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

export interface MetricsServerOptions {
  readonly port: number;
  /** Default `0.0.0.0`, so a container's probes and scrapers reach it. */
  readonly host?: string;
  readonly registry: Registry;
  /** Whether the worker still runs (not failed or stopped): `/healthz`. */
  readonly alive: () => boolean;
  readonly readiness: () => Readiness;
}

/**
 * The worker's HTTP endpoints: `/metrics` (Prometheus text), `/healthz` (200 while the process
 * answers and the worker has not failed; an answer at all shows the event loop turns) and
 * `/readyz` (200 once the worker joined its fleet and is not fenced, 503 with the reasons
 * otherwise). Anything else is 404.
 */
export class MetricsServer {
  private constructor(private readonly server: Server) {}

  static async start(options: MetricsServerOptions): Promise<MetricsServer> {
    const server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      const reply = (status: number, body: string, type = 'application/json') => {
        response.writeHead(status, { 'content-type': type });
        response.end(body);
      };
      if (request.method !== 'GET') return reply(405, JSON.stringify({ error: 'GET only' }));
      if (path === '/metrics') {
        options.registry.metrics().then(
          (text) => reply(200, text, options.registry.contentType),
          (error: unknown) => reply(500, JSON.stringify({ error: String(error) })),
        );
        return;
      }
      if (path === '/healthz') {
        const alive = options.alive();
        return reply(alive ? 200 : 503, JSON.stringify({ status: alive ? 'ok' : 'failed' }));
      }
      if (path === '/readyz') {
        const { ready, reasons } = options.readiness();
        return reply(ready ? 200 : 503, JSON.stringify({ status: ready ? 'ready' : 'not ready', reasons }));
      }
      reply(404, JSON.stringify({ error: `no ${path}; try /metrics, /healthz or /readyz` }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new MetricsServer(server);
  }

  /** The port it listens on (the one chosen when asked for port 0). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
