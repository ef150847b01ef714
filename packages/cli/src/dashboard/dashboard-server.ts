import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DASHBOARD_PAGE } from './dashboard-page.js';

export interface DashboardServerOptions {
  readonly port: number;
  readonly host: string;
  /** The current view as JSON. */
  readonly view: () => string;
  /** Pushes to open pages at most this often. Default 250 ms. */
  readonly pushIntervalMs?: number;
}

const DEFAULT_PUSH_INTERVAL_MS = 250;
/** A comment line keeps idle connections open through proxies. */
const KEEPALIVE_MS = 15_000;
const MAX_PAGES = 100;

/**
 * Serves the dashboard: the page at `/`, the view as JSON at `/state`, the view again on every
 * change as server-sent events at `/events` (at most one push per interval, the same JSON for
 * every open page), and `/healthz` for a container's probe.
 */
export class DashboardServer {
  private readonly pages = new Set<ServerResponse>();
  private readonly pushTimer: NodeJS.Timeout;
  private readonly keepaliveTimer: NodeJS.Timeout;
  private changed = false;

  private constructor(
    private readonly server: Server,
    private readonly options: DashboardServerOptions,
  ) {
    this.pushTimer = setInterval(() => this.push(), options.pushIntervalMs ?? DEFAULT_PUSH_INTERVAL_MS);
    this.keepaliveTimer = setInterval(() => this.pages.forEach((page) => page.write(': keepalive\n\n')), KEEPALIVE_MS);
  }

  static async start(options: DashboardServerOptions): Promise<DashboardServer> {
    let dashboard: DashboardServer | undefined;
    const server = createServer((request, response) => dashboard?.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => resolve());
    });
    dashboard = new DashboardServer(server, options);
    return dashboard;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Something changed: open pages get the view at the next push. */
  markChanged(): void {
    this.changed = true;
  }

  async close(): Promise<void> {
    clearInterval(this.pushTimer);
    clearInterval(this.keepaliveTimer);
    for (const page of this.pages) page.end();
    this.pages.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = new URL(request.url ?? '/', 'http://dashboard').pathname;
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(DASHBOARD_PAGE);
    } else if (path === '/state') {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(this.options.view());
    } else if (path === '/events') {
      this.openEvents(response);
    } else if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  private openEvents(response: ServerResponse): void {
    if (this.pages.size >= MAX_PAGES) {
      response.writeHead(503, { 'content-type': 'text/plain' }).end('too many open dashboards\n');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    response.write(`data: ${this.options.view()}\n\n`);
    this.pages.add(response);
    response.on('close', () => this.pages.delete(response));
  }

  private push(): void {
    if (!this.changed || this.pages.size === 0) return;
    this.changed = false;
    const message = `data: ${this.options.view()}\n\n`;
    for (const page of this.pages) page.write(message);
  }
}
