import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname } from 'node:path';
import type { ChaosReport } from './checker.js';
import type { EventRef, StallReport } from './stall-attribution.js';
import { CHAOS_EVENT_KINDS, type ChaosEventKind } from './event-kinds.js';

/** What the report adds to the checker's figures: the runner's notes and where the log is. */
export interface ReportContext {
  readonly notes: readonly string[];
  readonly logPath: string;
}
import { stallBoundMs } from './stall-bounds.js';

/** The run as `bench/results/chaos.json` holds it: the figures first, then what explains them. */
export function resultJson(report: ChaosReport, context: ReportContext): Record<string, unknown> {
  const startedAt = report.run?.at ?? 0;
  const relative = (ms: number) => Math.round(ms - startedAt);
  const event = (e: EventRef | undefined) => e && { ...e, atMs: relative(e.atMs) };
  const stall = (s: StallReport | undefined) =>
    s && {
      shard: s.shard,
      ms: s.ms,
      fromMs: relative(s.fromMs),
      toMs: relative(s.toMs),
      after: event(s.after),
      explainedBy: event(s.explainedBy),
      boundMs: s.boundMs,
    };
  return {
    benchmark: 'chaos',
    date: new Date().toISOString(),
    seed: report.run?.seed,
    minutes: report.run?.minutes,
    workers: report.run?.workers,
    shards: report.run?.shards,
    cores: availableParallelism(),
    node: process.version,
    loadAverage: loadavg().map((load) => Number(load.toFixed(2))),
    commit: commit(),
    passed: report.passed,
    events: report.events,
    produced: report.produced,
    processed: report.processed,
    lost: report.lost,
    duplicates: report.duplicates,
    duplicatesAfterUnclean: report.duplicatesAfterUnclean,
    orderViolations: report.orderViolations,
    overlappingBatches: report.overlappingBatches,
    staleCheckpointsAccepted: report.staleCheckpointsAccepted,
    maxStallMs: report.maxStallMs,
    maxStallAfter: stall(report.maxStall)?.after ?? null,
    maxStall: stall(report.maxStall) ?? null,
    stallBoundMs: report.stallBoundMs,
    stallBoundKind: report.stallBoundKind,
    maxStallByEvent: report.maxStallByEvent,
    stallsOverOwnBound: report.stallsOverOwnBound,
    targets: report.targets,
    workersStarted: report.workersStarted,
    batches: report.batches,
    checkpoints: report.checkpoints,
    unknownRecords: report.unknownRecords,
    shardMismatches: report.shardMismatches,
    malformedLines: report.malformedLines,
    samples: {
      ...report.samples,
      stalls: report.samples.stalls.map(stall),
      stallsOverOwnBound: report.samples.stallsOverOwnBound.map(stall),
    },
    eventList: report.eventList.map(event),
    notes: context.notes,
    log: context.logPath,
  };
}

export function writeResultJson(path: string, json: Record<string, unknown>): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(json, null, 2)}\n`);
}

/** The report as readable tables. */
export function formatReport(report: ChaosReport, context: ReportContext): string {
  const startedAt = report.run?.at ?? 0;
  const out: string[] = [];
  const eventCount = Object.values(report.events).reduce((sum, count) => sum + (count ?? 0), 0);
  out.push(
    `chaos: seed ${report.run?.seed ?? '?'}, ${report.run?.minutes ?? '?'} min of load, ${report.run?.workers ?? '?'} workers (${report.workersStarted} started in all), ${report.run?.shards ?? '?'} shards at start, ${eventCount} events`,
  );
  out.push('');
  const kinds: (ChaosEventKind | 'none')[] = ['none', ...CHAOS_EVENT_KINDS];
  out.push(
    table([
      ['event', 'count', 'longest stall it explains (ms)', 'bound (ms)'],
      ...kinds
        .filter((kind) => (kind === 'none' ? report.maxStallByEvent.none !== undefined : report.events[kind] !== undefined))
        .map((kind) => [
          kind === 'none' ? '(no event)' : kind,
          kind === 'none' ? '' : number(report.events[kind] ?? 0),
          report.maxStallByEvent[kind] === undefined ? '-' : number(report.maxStallByEvent[kind]!),
          number(stallBoundMs(kind)) + (kind !== 'none' && hasDuration(kind) ? ' + duration' : ''),
        ]),
    ]),
  );
  out.push('');
  const verdict = (met: boolean) => (met ? 'ok' : 'MISSED');
  const t = report.targets;
  const after = report.maxStall?.after;
  out.push(
    table([
      ['figure', 'value', 'target', ''],
      ['produced', number(report.produced), '', ''],
      ['lost', number(report.lost), '0', verdict(t.lost.met)],
      ['duplicates', number(report.duplicates), '', ''],
      ['  after an unclean event', number(report.duplicatesAfterUnclean), '', ''],
      ['orderViolations', number(report.orderViolations), '0', verdict(t.orderViolations.met)],
      ['overlappingBatches', number(report.overlappingBatches), '0', verdict(t.overlappingBatches.met)],
      ['staleCheckpointsAccepted', number(report.staleCheckpointsAccepted), '0', verdict(t.staleCheckpointsAccepted.met)],
      ['maxStallMs', number(report.maxStallMs), `≤ ${number(report.stallBoundMs)} (${report.stallBoundKind})`, verdict(t.maxStallMs.met)],
    ]),
  );
  if (report.maxStall) {
    out.push(
      `longest stall: ${report.maxStall.shard}, +${seconds(report.maxStall.fromMs - startedAt)} s to +${seconds(report.maxStall.toMs - startedAt)} s, ` +
        (after ? `after ${after.kind} on ${after.target ?? '-'} at +${seconds(after.atMs - startedAt)} s` : 'before any event'),
    );
  }
  out.push(
    `checkpoints: ${report.checkpoints.applied} applied, ${report.checkpoints.refused} refused, ${report.checkpoints.failed} failed`,
  );
  out.push(`stalls longer than the bounds of the events that explain them: ${report.stallsOverOwnBound}`);
  for (const over of report.samples.stallsOverOwnBound) {
    const explained = over.explainedBy;
    out.push(
      `  ${over.shard}: ${number(over.ms)} ms (bound ${number(over.boundMs)}) from +${seconds(over.fromMs - startedAt)} s, ` +
        (explained
          ? `within ${explained.kind} on ${explained.target ?? '-'} at +${seconds(explained.atMs - startedAt)} s`
          : 'outside any event'),
    );
  }
  for (const [name, list] of Object.entries(report.samples)) {
    if (name === 'stalls' || name === 'stallsOverOwnBound' || list.length === 0) continue;
    out.push(`${name} (first ${list.length}): ${list.map((item) => JSON.stringify(item)).join('; ')}`);
  }
  for (const message of context.notes) out.push(`note: ${message}`);
  out.push(report.passed ? 'every target met' : 'TARGETS MISSED');
  return out.join('\n');
}

function hasDuration(kind: ChaosEventKind): boolean {
  return stallBoundMs(kind, 1) !== stallBoundMs(kind, 0);
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(rows[0]!), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function number(value: number): string {
  return value.toLocaleString('en-US');
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function commit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}
