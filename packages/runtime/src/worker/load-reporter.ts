import { EventLoopLoadSampler, type Logger, type WorkerLoadStore } from '@shoal/coordinator';

export interface LoadReporterOptions {
  readonly store: WorkerLoadStore;
  readonly application: string;
  readonly workerId: string;
  readonly intervalMs: number;
  readonly logger: Logger;
  /** The largest lag among this worker's shards at their last batch; undefined before any. */
  readonly maxLagMs?: () => number | undefined;
}

/**
 * Samples this worker's event-loop lag, processed records and largest shard lag, and reports them
 * every interval for the leader's load-aware planning and its view of the application's lag. A failed report is the store's business (it fails open).
 */
export class LoadReporter {
  private readonly sampler = new EventLoopLoadSampler();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: LoadReporterOptions) {}

  start(): void {
    if (this.timer) return;
    this.sampler.start();
    this.timer = setInterval(() => void this.report(), this.options.intervalMs);
    this.timer.unref();
  }

  recordProcessed(count: number): void {
    this.sampler.recordProcessed(count);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.sampler.stop();
  }

  private async report(): Promise<void> {
    const { store, application, workerId, logger } = this.options;
    try {
      const maxLagMs = this.options.maxLagMs?.();
      await store.report(application, workerId, { ...this.sampler.sample(), ...(maxLagMs === undefined ? {} : { maxLagMs }) });
    } catch (error) {
      logger.debug({ err: error }, 'could not report worker load');
    }
  }
}
