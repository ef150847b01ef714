import {
  connectNats,
  watchLeaseStates,
  workerLiveReportSchema,
  workerReportSubject,
  type LeaseStateWatch,
  type NatsLink,
} from '@shoal/coordinator';
import type { Command } from 'commander';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_NATS_URL, natsUrl, nonEmpty, port, positiveInteger } from '../option-parsers.js';
import type { CliIo } from '../program.js';
import { DashboardModel } from './dashboard-model.js';
import { DashboardServer } from './dashboard-server.js';

export interface DashboardOptions {
  readonly application: string;
  readonly nats: string;
  readonly port: number;
  readonly host: string;
  readonly connectTimeoutMs: number;
}

/** Adds `shoal dashboard` to the program. */
export function addDashboardCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  program
    .command('dashboard')
    .description(
      "Serve a live page of the application's fleet: workers and their leases with each machine's state, the leader, lag per shard over the last minutes, recent transitions; from NATS.",
    )
    .requiredOption('--application <name>', 'the application to show', nonEmpty)
    .option('--nats <url>', 'NATS server with JetStream', natsUrl, DEFAULT_NATS_URL)
    .option('--port <port>', 'HTTP port (0: any free one)', port, 8080)
    .option('--host <address>', 'address to listen on (0.0.0.0: every interface, as in a container)', nonEmpty, '127.0.0.1')
    .option('--connect-timeout-ms <ms>', 'give up when NATS does not answer within this time', positiveInteger, DEFAULT_CONNECT_TIMEOUT_MS)
    .action(async (options: DashboardOptions) => setExitCode(await runDashboard(options, io)));
}

/**
 * `shoal dashboard`: follows the application's lease-state bucket and its workers' live reports
 * on NATS (again after every fresh connection), and serves the page until `io.signal` aborts.
 * Resolves 0, or 1 when NATS does not answer at start or the port cannot be had.
 */
export async function runDashboard(options: DashboardOptions, io: CliIo): Promise<number> {
  const link = connectNats({ servers: options.nats, name: `shoal-dashboard-${options.application}`, logger: io.logger });
  let server: DashboardServer | undefined;
  let stopFollowing: (() => Promise<void>) | undefined;
  try {
    if (!(await link.ready(options.connectTimeoutMs))) {
      io.writeError(`shoal dashboard: cannot reach NATS at ${options.nats} within ${options.connectTimeoutMs} ms\n`);
      return 1;
    }
    const model = new DashboardModel({ application: options.application });
    try {
      server = await DashboardServer.start({ port: options.port, host: options.host, view: () => JSON.stringify(model.view()) });
    } catch (error) {
      io.writeError(
        `shoal dashboard: cannot listen on ${options.host}:${options.port} (${(error as NodeJS.ErrnoException).code ?? String(error)})\n`,
      );
      return 1;
    }
    const changed = server.markChanged.bind(server);
    stopFollowing = follow(link, model, options.application, io, changed);
    io.write(`dashboard of ${options.application}: http://${hostForUrl(options.host)}:${server.port}/\n`);
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    return 0;
  } finally {
    await stopFollowing?.();
    await server?.close();
    await link.close();
  }
}

/** Feeds the model from NATS on every fresh connection; resolves a stop function. */
function follow(link: NatsLink, model: DashboardModel, application: string, io: CliIo, changed: () => void): () => Promise<void> {
  let watch: Promise<LeaseStateWatch | undefined> | undefined;
  const stopListening = link.onConnection((connection) => {
    const previous = watch;
    watch = (async () => {
      await (await previous)?.stop();
      return watchLeaseStates({
        connection,
        application,
        logger: io.logger,
        onUpdate: (update) => {
          model.applyLeaseState(update);
          changed();
        },
      }).catch((error: unknown) => {
        io.logger.error({ err: error }, 'cannot watch the lease-state bucket');
        return undefined;
      });
    })();
    connection.subscribe(workerReportSubject(application), {
      callback: (error, message) => {
        if (error) return;
        const parsed = workerLiveReportSchema.safeParse(safeJson(message.data));
        if (!parsed.success) {
          io.logger.debug({ subject: message.subject }, 'not a worker report, ignored');
          return;
        }
        model.applyWorkerReport(parsed.data);
        changed();
      },
    });
  });
  return async () => {
    stopListening();
    await (await watch)?.stop();
  };
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
