import { LEASE_STATE_MAX_AGE_MS, type LeaseStateSnapshot, type LeaseStateUpdate, type WorkerLiveReport } from '@shoal/coordinator';
import { isLetGo } from '../fleet-table.js';

/** One lease as the page shows it. */
export interface DashboardLease {
  readonly streamName: string;
  readonly leaseKey: string;
  readonly shardId: string;
  readonly workerId: string;
  readonly state: string;
  readonly reason: string | undefined;
  readonly leaseCounter: number | undefined;
  readonly checkpoint: string | undefined;
  /** The shard's lag in its holder's latest report; undefined before one. */
  readonly lagMs: number | undefined;
  readonly at: number;
}

export interface DashboardWorker {
  readonly workerId: string;
  /** As the worker reported it; `unknown` for a worker seen only as a lease holder. */
  readonly state: string;
  readonly leading: boolean;
  readonly liveness: string | undefined;
  readonly lastReportAt: number | undefined;
  readonly leases: readonly DashboardLease[];
}

export interface DashboardTransition {
  readonly at: number;
  readonly streamName: string;
  readonly shardId: string;
  readonly workerId: string;
  readonly state: string;
  readonly reason: string | undefined;
}

export interface LagSeries {
  readonly streamName: string;
  readonly shardId: string;
  /** `[epoch ms, lag ms]`, oldest first. */
  readonly points: readonly (readonly [number, number])[];
}

/** Everything the page draws, as one JSON document. */
export interface DashboardView {
  readonly application: string;
  readonly at: number;
  readonly leaders: readonly string[];
  readonly workers: readonly DashboardWorker[];
  /** Leases whose last holder let them go in the last 5 minutes, and nobody has published holding since. */
  readonly unheld: readonly DashboardLease[];
  readonly lag: readonly LagSeries[];
  /** Newest first. */
  readonly transitions: readonly DashboardTransition[];
}

export interface DashboardModelOptions {
  readonly application: string;
  /** How far back the lag chart reaches. Default 10 minutes. */
  readonly historyMs?: number;
  readonly now?: () => number;
}

const DEFAULT_HISTORY_MS = 10 * 60_000;
const MAX_TRANSITIONS = 100;
const MAX_POINTS_PER_SHARD = 600;
/**
 * Bounds on what the bucket and the reports (which anyone on NATS can write) can make the model
 * hold; past them the entry received longest ago goes.
 */
const MAX_SERIES = 10_000;
const MAX_REPORTING_WORKERS = 2_000;
const MAX_LEASES = 20_000;
/** A report's interval counts for at most this: a forged huge one cannot keep a worker listed. */
const MAX_REPORT_INTERVAL_MS = 60_000;
/** Leases let go longer ago than this (past runs, say) are not shown. */
const UNHELD_SHOWN_MS = 5 * 60_000;
/** A worker is dropped after this many report intervals without one. */
const MISSED_REPORTS = 3;

/** What the view uses of a worker's latest report. */
interface ReportedWorker {
  readonly state: string;
  readonly leading: boolean;
  readonly liveness: string | undefined;
  readonly at: number;
  readonly intervalMs: number;
  readonly receivedAt: number;
}

interface ReceivedLeaseState {
  readonly snapshot: LeaseStateSnapshot;
  /** Ages are measured from the earlier of this and the snapshot's own time, so a forged future date does not keep it. */
  readonly receivedAt: number;
}

/**
 * The fleet as a dashboard shows it, built from the lease-state bucket (each lease machine's
 * latest state) and the workers' live reports (leadership, per-shard lag). Everything it holds is
 * bounded, whatever is written there: transitions and lag points by count and age, leases,
 * workers and series by count (and by age measured on this clock).
 */
export class DashboardModel {
  private readonly application: string;
  private readonly historyMs: number;
  private readonly now: () => number;
  /** By bucket key, in the order last received (a Map keeps insertion order): the first is the oldest. */
  private readonly leases = new Map<string, ReceivedLeaseState>();
  private readonly reports = new Map<string, ReportedWorker>();
  private readonly series = new Map<string, { streamName: string; shardId: string; points: [number, number][] }>();
  private readonly recent: DashboardTransition[] = [];

  constructor(options: DashboardModelOptions) {
    this.application = options.application;
    this.historyMs = options.historyMs ?? DEFAULT_HISTORY_MS;
    this.now = options.now ?? Date.now;
  }

  /** Applies a change of the lease-state bucket; live changes (not the replay) are transitions too. */
  applyLeaseState(update: LeaseStateUpdate): void {
    if (update.type === 'deleted') {
      this.leases.delete(update.key);
      return;
    }
    const { snapshot } = update;
    const known = this.leases.get(update.key)?.snapshot;
    if (known && isStale(snapshot, known)) return;
    this.leases.delete(update.key);
    this.leases.set(update.key, { snapshot, receivedAt: this.now() });
    if (this.leases.size > MAX_LEASES) this.leases.delete(this.leases.keys().next().value!);
    // A checkpoint alone (the same machine in the same state) is no transition.
    if (update.initial || (known?.state === snapshot.state && known.workerId === snapshot.workerId)) return;
    this.recent.unshift({
      at: snapshot.at,
      streamName: snapshot.streamName,
      shardId: snapshot.shardId,
      workerId: snapshot.workerId,
      state: snapshot.state,
      reason: snapshot.reason,
    });
    this.recent.length = Math.min(this.recent.length, MAX_TRANSITIONS);
  }

  /** Applies a worker's report: its leadership and state, and a lag point per shard it runs. */
  applyWorkerReport(report: WorkerLiveReport): void {
    if (report.application !== this.application) return;
    const receivedAt = this.now();
    this.reports.delete(report.workerId);
    if (report.state !== 'stopped') {
      const { state, leading, liveness, at } = report;
      const intervalMs = Math.min(report.intervalMs, MAX_REPORT_INTERVAL_MS);
      this.reports.set(report.workerId, { state, leading, liveness, at, intervalMs, receivedAt });
      if (this.reports.size > MAX_REPORTING_WORKERS) this.reports.delete(this.reports.keys().next().value!);
    }
    for (const shard of report.shards) this.addLagPoint(shard.streamName, shard.shardId, receivedAt, shard.lagMs);
  }

  view(): DashboardView {
    const now = this.now();
    this.expire(now);
    const lagOf = new Map<string, number>();
    for (const [key, series] of this.series) lagOf.set(key, series.points.at(-1)![1]);
    const held = new Map<string, DashboardLease[]>();
    const unheld: DashboardLease[] = [];
    const snapshots = [...this.leases.values()].map(({ snapshot }) => snapshot).sort(byStreamAndShard);
    for (const snapshot of snapshots) {
      const lease = toDashboardLease(snapshot, lagOf.get(seriesKey(snapshot.streamName, snapshot.shardId)));
      if (isLetGo(snapshot)) unheld.push(lease);
      else held.set(snapshot.workerId, [...(held.get(snapshot.workerId) ?? []), lease]);
    }
    const workerIds = [...new Set([...this.reports.keys(), ...held.keys()])].sort();
    const workers = workerIds.map((workerId): DashboardWorker => {
      const report = this.reports.get(workerId);
      return {
        workerId,
        state: report?.state ?? 'unknown',
        leading: report?.leading ?? false,
        liveness: report?.liveness,
        lastReportAt: report?.at,
        leases: held.get(workerId) ?? [],
      };
    });
    return {
      application: this.application,
      at: now,
      leaders: workers.filter((worker) => worker.leading).map((worker) => worker.workerId),
      workers,
      unheld,
      lag: [...this.series.values()]
        .map((series) => ({ streamName: series.streamName, shardId: series.shardId, points: series.points }))
        .sort(byStreamAndShard),
      transitions: this.recent,
    };
  }

  private addLagPoint(streamName: string, shardId: string, at: number, lagMs: number): void {
    const key = seriesKey(streamName, shardId);
    let series = this.series.get(key);
    if (!series) {
      if (this.series.size >= MAX_SERIES) return;
      series = { streamName, shardId, points: [] };
      this.series.set(key, series);
    }
    series.points.push([at, lagMs]);
    if (series.points.length > MAX_POINTS_PER_SHARD) series.points.splice(0, series.points.length - MAX_POINTS_PER_SHARD);
  }

  /** Drops lag points older than the history, leases past showing, and workers whose reports stopped. */
  private expire(now: number): void {
    const oldest = now - this.historyMs;
    for (const [key, series] of this.series) {
      const firstKept = series.points.findIndex(([at]) => at >= oldest);
      if (firstKept === -1) this.series.delete(key);
      else if (firstKept > 0) series.points.splice(0, firstKept);
    }
    // The bucket drops expired entries without telling watchers: the model drops them itself.
    for (const [key, { snapshot, receivedAt }] of this.leases) {
      const age = now - Math.min(snapshot.at, receivedAt);
      if (age > (isLetGo(snapshot) ? UNHELD_SHOWN_MS : LEASE_STATE_MAX_AGE_MS)) this.leases.delete(key);
    }
    for (const [workerId, { intervalMs, receivedAt }] of this.reports) {
      if (now - receivedAt > MISSED_REPORTS * intervalMs) this.reports.delete(workerId);
    }
  }
}

/**
 * Whether `snapshot` is older news than the state known for its lease: a previous owner's last
 * words may land after the next owner's first (the epoch orders them), and a worker that never
 * held the lease (its snapshots carry no epoch) says nothing about the holder's.
 */
function isStale(snapshot: LeaseStateSnapshot, known: LeaseStateSnapshot): boolean {
  if (known.leaseCounter === undefined) return false;
  if (snapshot.leaseCounter !== undefined) return snapshot.leaseCounter < known.leaseCounter;
  return snapshot.workerId !== known.workerId && !isLetGo(known);
}

function toDashboardLease(snapshot: LeaseStateSnapshot, lagMs: number | undefined): DashboardLease {
  return {
    streamName: snapshot.streamName,
    leaseKey: snapshot.leaseKey,
    shardId: snapshot.shardId,
    workerId: snapshot.workerId,
    state: snapshot.state,
    reason: snapshot.reason,
    leaseCounter: snapshot.leaseCounter,
    checkpoint: snapshot.checkpoint,
    lagMs,
    at: snapshot.at,
  };
}

function seriesKey(streamName: string, shardId: string): string {
  return `${streamName}/${shardId}`;
}

function byStreamAndShard(a: { streamName: string; shardId: string }, b: { streamName: string; shardId: string }): number {
  return a.streamName < b.streamName ? -1 : a.streamName > b.streamName ? 1 : a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0;
}
