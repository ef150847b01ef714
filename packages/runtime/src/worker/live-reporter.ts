import type { LeaseStatePublisher, WorkerLiveReport } from '@shoal/coordinator';
import { MAX_REPORTED_SHARDS } from '@shoal/coordinator';

export interface WorkerLiveReporterOptions {
  readonly publisher: Required<Pick<LeaseStatePublisher, 'reportWorker'>>;
  readonly intervalMs: number;
  /** The report as of now. */
  readonly report: () => Omit<WorkerLiveReport, 'intervalMs'>;
}

/**
 * Sends the worker's live report (leadership, per-shard lag) to observers every interval, and a
 * last one when the worker stops, so a dashboard drops it at once rather than after missed reports.
 */
export class WorkerLiveReporter {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: WorkerLiveReporterOptions) {}

  start(): void {
    if (this.timer) return;
    this.send();
    this.timer = setInterval(() => this.send(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops the reports; the last one says `stopped`. */
  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.send({ state: 'stopped', leading: false, shards: [] });
  }

  private send(override: Partial<WorkerLiveReport> = {}): void {
    const report = { ...this.options.report(), ...override };
    this.options.publisher.reportWorker({
      ...report,
      shards: report.shards.slice(0, MAX_REPORTED_SHARDS),
      intervalMs: this.options.intervalMs,
    });
  }
}
