import { LEASE_STATE_MAX_AGE_MS, connectNats, type Logger } from '@shoal/coordinator';
import { isLetGo, renderFleetTable, sortLeases, summarizeFleet, type FleetState } from './fleet-table.js';
import { openFleetWatch, type FleetWatch } from './fleet-watch.js';
import { createThrottle } from './throttle.js';

export interface WatchOptions {
  /** Application whose lease-state bucket (`shoal_<app>_leases`) is watched. */
  readonly application: string;
  /** NATS server, `nats://host:port` or `host:port`. */
  readonly nats: string;
  /** Print the fleet once, after the initial entries arrived, and return. */
  readonly once: boolean;
  /** One JSON line per render instead of the table. */
  readonly json: boolean;
  /** How long to wait for the NATS connection before giving up. */
  readonly connectTimeoutMs: number;
  /** Only the leases of this stream. */
  readonly stream?: string;
  /** Also leases nobody has held for a while (ended or given up more than `LET_GO_SHOWN_MS` ago). */
  readonly all?: boolean;
}

export interface WatchContext {
  /** Where the table or JSON lines go (stdout). */
  readonly write: (text: string) => void;
  /** Errors only; never the table. */
  readonly logger: Logger;
  /** Ends a live watch (SIGINT/SIGTERM). */
  readonly signal: AbortSignal;
  /** Output is a terminal: each table replaces the previous one, and ages tick every second. */
  readonly interactive: boolean;
  readonly now?: () => number;
}

/** At most one render per this interval, however fast the fleet changes. */
export const RENDER_INTERVAL_MS = 200;
const AGE_REFRESH_MS = 1_000;
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/**
 * `shoal watch`: renders the application's fleet from its lease-state bucket, once or on every
 * change until `signal` aborts. Resolves with the process exit code: 0, or 1 when NATS cannot
 * be reached or the bucket cannot be watched (logged as an error naming the URL).
 */
export async function runWatch(options: WatchOptions, context: WatchContext): Promise<number> {
  const { nats, application, connectTimeoutMs } = options;
  const { logger, signal } = context;
  const link = connectNats({ servers: nats, name: `shoal-cli-${application}`, logger, connectTimeoutMs });
  let fleet: FleetWatch | undefined;
  try {
    const connected = await untilAborted(link.ready(connectTimeoutMs), signal);
    if (signal.aborted) return 0;
    const connection = connected ? link.connection() : undefined;
    if (!connection) {
      logger.error({ nats, connectTimeoutMs }, `cannot reach NATS at ${nats} within ${connectTimeoutMs} ms`);
      return 1;
    }
    const render = createRenderer(options, context, () => fleet?.states ?? new Map());
    const throttle = createThrottle(render, RENDER_INTERVAL_MS, context.now);
    try {
      fleet = await openFleetWatch({ connection, application, logger, onChange: () => throttle.schedule() });
    } catch (err) {
      logger.error({ err, nats, application }, `cannot watch the lease states of application ${application} at ${nats}`);
      return 1;
    }
    await untilAborted(fleet.caughtUp, signal);
    if (signal.aborted) return 0;
    if (options.once) {
      render();
      return 0;
    }
    throttle.schedule();
    const ticker = context.interactive && !options.json ? setInterval(() => throttle.schedule(), AGE_REFRESH_MS) : undefined;
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    clearInterval(ticker);
    throttle.cancel();
    return 0;
  } finally {
    await fleet?.stop();
    await link.close();
  }
}

/** Leases nobody holds (ended, or lost by a worker) are shown this long after their last change, unless `--all`. */
export const LET_GO_SHOWN_MS = 5 * 60_000;

/**
 * The leases the watch shows: of the stream asked for, without entries the bucket has expired
 * (a watch is not told), and without leases nobody has held for a while unless `all`.
 */
export function visibleLeases(states: FleetState, at: number, options: Pick<WatchOptions, 'stream' | 'all'>): FleetState {
  return new Map(
    [...states].filter(([, lease]) => {
      if (options.stream !== undefined && lease.streamName !== options.stream) return false;
      const age = at - lease.at;
      if (age > LEASE_STATE_MAX_AGE_MS) return false;
      return options.all === true || !isLetGo(lease) || age <= LET_GO_SHOWN_MS;
    }),
  );
}

function createRenderer(options: WatchOptions, context: WatchContext, allStates: () => FleetState): () => void {
  const now = context.now ?? Date.now;
  let rendered = false;
  return () => {
    const at = now();
    const shown = visibleLeases(allStates(), at, options);
    if (options.json) {
      const line = { application: options.application, at, leases: sortLeases(shown), summary: summarizeFleet(shown) };
      context.write(`${JSON.stringify(line)}\n`);
      return;
    }
    const table = renderFleetTable(shown, at).join('\n');
    // A pipe or file keeps every table, a blank line apart; a terminal shows only the latest.
    const separator = context.interactive ? CLEAR_SCREEN : rendered ? '\n' : '';
    rendered = true;
    context.write(`${separator}${table}\n`);
  };
}

/** Resolves with the promise's value, or with `undefined` as soon as the signal aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
