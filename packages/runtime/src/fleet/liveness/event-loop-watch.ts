import type { Logger } from '@shoal/coordinator';

const TICK_MS = 100;
const WARN_EVERY_MS = 10_000;

/**
 * Watches this process's event loop for stalls: a timer due every 100 ms that fires late was
 * held up by synchronous work (a huge batch, a blocking processor, a long GC). Liveness on the
 * bus tolerates a stall of up to `toleratedMs` (`livenessSelfFenceMs − livenessIntervalMs`:
 * a grant asked for just before the stall must still be answered, and the answer handled, before
 * it runs out); a stall of half that is reported, so the cause is found before the worker has to
 * stop. Reports are at most one per 10 s.
 */
export class EventLoopWatch {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private expectedAt = 0;
  private lastWarnedAt = Number.NEGATIVE_INFINITY;
  private longest = 0;

  constructor(
    private readonly toleratedMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.expectedAt = performance.now() + TICK_MS;
    this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The longest stall seen so far, in ms. */
  get longestStallMs(): number {
    return this.longest;
  }

  private schedule(): void {
    this.timer = setTimeout(() => this.tick(), Math.max(0, this.expectedAt - performance.now()));
    this.timer.unref?.();
  }

  private tick(): void {
    const now = performance.now();
    const stallMs = now - this.expectedAt;
    this.longest = Math.max(this.longest, stallMs);
    if (stallMs > this.toleratedMs / 2 && now - this.lastWarnedAt >= WARN_EVERY_MS) {
      this.lastWarnedAt = now;
      this.logger.warn(
        { stallMs: Math.round(stallMs), toleratedMs: this.toleratedMs },
        'the event loop stalled: liveness grants can be handled only between tasks, and a stall longer than toleratedMs makes this worker stop processing',
      );
    }
    this.expectedAt = now + TICK_MS;
    this.schedule();
  }
}
