import type { LeaseStateSnapshot } from '@shoal/coordinator';

/** The fleet as the watcher knows it: the latest snapshot per lease-state bucket key. */
export type FleetState = ReadonlyMap<string, LeaseStateSnapshot>;

export interface FleetSummary {
  readonly leases: number;
  /** Leases per worker, not counting ended or stolen ones (no one holds those). */
  readonly workers: Readonly<Record<string, number>>;
  /** Leases per machine state, as published (`owned.processing`, `ended`...). */
  readonly states: Readonly<Record<string, number>>;
}

/** Whether its last worker no longer holds the lease (its machine ended, or lost it). */
export function isLetGo(lease: Pick<LeaseStateSnapshot, 'state'>): boolean {
  const topLevel = lease.state.split('.')[0];
  return topLevel === 'ended' || topLevel === 'stolen';
}
const NONE = '-';

/** The snapshots ordered by shard id, then stream (an application may read several streams). */
export function sortLeases(states: FleetState): LeaseStateSnapshot[] {
  return [...states.values()].sort((a, b) => compare(a.shardId, b.shardId) || compare(a.streamName, b.streamName));
}

export function summarizeFleet(states: FleetState): FleetSummary {
  const workers: Record<string, number> = {};
  const counts: Record<string, number> = {};
  for (const lease of states.values()) {
    counts[lease.state] = (counts[lease.state] ?? 0) + 1;
    if (!isLetGo(lease)) workers[lease.workerId] = (workers[lease.workerId] ?? 0) + 1;
  }
  return { leases: states.size, workers: sortKeys(workers), states: sortKeys(counts) };
}

/**
 * Renders the fleet as text lines: a header, one row per lease sorted by shard id, and a summary
 * line. A STREAM column appears only when the leases span several streams.
 *
 * @example
 * ```ts
 * renderFleetTable(new Map([[key, snapshot]]), Date.now()).join('\n');
 * ```
 */
export function renderFleetTable(states: FleetState, nowMs: number): string[] {
  const leases = sortLeases(states);
  const multiStream = new Set(leases.map((lease) => lease.streamName)).size > 1;
  const header = ['SHARD', 'STATE', 'OWNER', 'COUNTER', 'CHECKPOINT', 'AGE'];
  const rows = leases.map((lease) => [
    lease.shardId,
    lease.reason === undefined ? lease.state : `${lease.state} (${lease.reason})`,
    lease.workerId,
    lease.leaseCounter === undefined ? NONE : String(lease.leaseCounter),
    lease.checkpoint ?? NONE,
    formatAge(nowMs - lease.at),
  ]);
  if (multiStream) {
    header.unshift('STREAM');
    rows.forEach((row, i) => row.unshift(leases[i]!.streamName));
  }
  return [...alignColumns([header, ...rows]), summaryLine(summarizeFleet(states))];
}

/** `850ms`, `4.2s`, `3m05s`, `2h10m`, `3d04h`; a change stamped in the future (clock skew) is 0ms old. */
export function formatAge(ageMs: number): string {
  const ms = Math.max(0, Math.floor(ageMs));
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const seconds = Math.floor(ms / 1_000);
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m${pad2(seconds % 60)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 1_440) return `${Math.floor(minutes / 60)}h${pad2(minutes % 60)}m`;
  const hours = Math.floor(minutes / 60);
  return `${Math.floor(hours / 24)}d${pad2(hours % 24)}h`;
}

function summaryLine(summary: FleetSummary): string {
  const list = (counts: Readonly<Record<string, number>>): string =>
    Object.entries(counts)
      .map(([name, count]) => `${name}=${count}`)
      .join(' ') || 'none';
  const noun = summary.leases === 1 ? 'lease' : 'leases';
  return `${summary.leases} ${noun} | workers: ${list(summary.workers)} | states: ${list(summary.states)}`;
}

/** The rows as lines, each column padded to its widest cell. */
export function alignColumns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd(),
  );
}

function sortKeys(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => compare(a, b)));
}

/** Code-point order, so the output does not depend on the machine's locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function pad2(value: number): string {
  return String(value).padStart(2, '0');
}
