import { InvalidArgumentError } from '@shoal/processor-sdk';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { WorkerLoad } from '../assignment/worker-load.js';

/** Wall clock of an {@link EventLoopLoadSampler}: epoch milliseconds. */
export interface LoadSamplerClock {
  now(): number;
}

export interface EventLoopLoadSamplerOptions {
  /** Sampling interval of `monitorEventLoopDelay`, in milliseconds. Default 20. */
  readonly resolutionMs?: number;
  /** Which percentile of the window's event-loop delays is reported, in (0, 100]. Default 99. */
  readonly lagPercentile?: number;
  /** Default: `Date.now`. */
  readonly clock?: LoadSamplerClock;
}

export type EventLoopLoadSamplerState = 'idle' | 'running' | 'stopped';

const DEFAULT_RESOLUTION_MS = 20;
const DEFAULT_LAG_PERCENTILE = 99;

/**
 * Measures how busy this process is, as a {@link WorkerLoad}: event-loop lag from
 * `perf_hooks.monitorEventLoopDelay` and records processed per second (fed by
 * {@link EventLoopLoadSampler.recordProcessed}). Each {@link EventLoopLoadSampler.sample} covers
 * the window since the previous one (or since `start()`) and opens the next, so one reporter
 * should own the sampling.
 *
 * The reported lag is the chosen percentile of the window's timer delays minus the resolution:
 * Node's histogram records each whole timer interval, so an idle loop reads about the
 * resolution and reports about 0.
 *
 * @example
 * ```ts
 * const sampler = new EventLoopLoadSampler();
 * sampler.start();
 * // in the shard consumer, after each processRecords call:
 * sampler.recordProcessed(records.length);
 * // every report interval:
 * await store.report(application, workerId, sampler.sample());
 * sampler.stop();
 * ```
 */
export class EventLoopLoadSampler {
  private readonly resolutionMs: number;
  private readonly lagPercentile: number;
  private readonly clock: LoadSamplerClock;
  private histogram: IntervalHistogram | undefined;
  private currentState: EventLoopLoadSamplerState = 'idle';
  private windowStartedAt: number;
  private processed = 0;

  constructor(options: EventLoopLoadSamplerOptions = {}) {
    this.resolutionMs = options.resolutionMs ?? DEFAULT_RESOLUTION_MS;
    if (!(Number.isInteger(this.resolutionMs) && this.resolutionMs >= 1)) {
      throw new InvalidArgumentError(`EventLoopLoadSampler: resolutionMs must be an integer >= 1, got ${this.resolutionMs}`);
    }
    this.lagPercentile = options.lagPercentile ?? DEFAULT_LAG_PERCENTILE;
    if (!(this.lagPercentile > 0 && this.lagPercentile <= 100)) {
      throw new InvalidArgumentError(`EventLoopLoadSampler: lagPercentile must be in (0, 100], got ${this.lagPercentile}`);
    }
    this.clock = options.clock ?? { now: () => Date.now() };
    this.windowStartedAt = this.clock.now();
  }

  get state(): EventLoopLoadSamplerState {
    return this.currentState;
  }

  /** Starts measuring (again, after `stop()`) and opens a new window. Idempotent while running. */
  start(): void {
    if (this.currentState === 'running') return;
    this.histogram ??= monitorEventLoopDelay({ resolution: this.resolutionMs });
    this.histogram.reset();
    this.histogram.enable();
    this.windowStartedAt = this.clock.now();
    this.processed = 0;
    this.currentState = 'running';
  }

  /** Stops the event-loop timer. Idempotent. */
  stop(): void {
    if (this.currentState !== 'running') return;
    this.histogram?.disable();
    this.currentState = 'stopped';
  }

  /** Counts records the processors handled; feeds `recordsPerSecond`. */
  recordProcessed(count: number): void {
    if (Number.isFinite(count) && count > 0) this.processed += count;
  }

  /**
   * The load over the window since the previous sample (or `start()`), stamped now; opens the
   * next window. Lag is 0 when the loop was not measured in the window (not started, or too short).
   */
  sample(): WorkerLoad {
    const now = this.clock.now();
    const elapsedMs = now - this.windowStartedAt;
    const recordsPerSecond = elapsedMs > 0 ? (this.processed * 1000) / elapsedMs : 0;
    const load: WorkerLoad = { eventLoopLagMs: this.lagMs(), recordsPerSecond, reportedAt: now };
    this.histogram?.reset();
    this.windowStartedAt = now;
    this.processed = 0;
    return load;
  }

  [Symbol.dispose](): void {
    this.stop();
  }

  private lagMs(): number {
    const histogram = this.histogram;
    if (histogram === undefined || histogram.count === 0) return 0;
    const delayMs = histogram.percentile(this.lagPercentile) / 1e6;
    return Number.isFinite(delayMs) ? Math.max(0, delayMs - this.resolutionMs) : 0;
  }
}
