/**
 * `@shoal/cli`: the `shoal` command line. `shoal watch` shows an application's fleet live from
 * its NATS lease-state bucket; the rendering is exported for other tools.
 *
 * @example
 * ```ts
 * import { renderFleetTable } from '@shoal/cli';
 *
 * const states = new Map([['orders.shardId-000000000000', snapshot]]);
 * process.stdout.write(renderFleetTable(states, Date.now()).join('\n') + '\n');
 * ```
 *
 * @module
 */
export { formatAge, renderFleetTable, sortLeases, summarizeFleet, type FleetState, type FleetSummary } from './fleet-table.js';
export { CATCH_UP_IDLE_MS, openFleetWatch, type FleetWatch, type FleetWatchOptions } from './fleet-watch.js';
export { runCli, type CliIo } from './program.js';
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_NATS_URL } from './option-parsers.js';
export { RENDER_INTERVAL_MS, runWatch, type WatchContext, type WatchOptions } from './watch-command.js';
export { runDashboard, type DashboardOptions } from './dashboard/dashboard-command.js';
export { DashboardModel, type DashboardView } from './dashboard/dashboard-model.js';
