/** Tokens are handed out at most this often, however high the rate: a few timers a second, not one per poll. */
const MIN_TICK_MS = 20;

/**
 * Spreads the polls of a worker's idle shards (those whose last GetRecords came back empty) over
 * a worker-wide rate, in turn. Each GetRecords costs the worker about a millisecond of CPU (the
 * SDK's signing, HTTP, parsing), so a node of 2,000 quiet shards polled once a second each would
 * spend two cores on empty answers. With a rate of R polls a second and N idle shards, each is
 * polled every max(its own idle wait, N ÷ R seconds): that bounds how long the first record after
 * a quiet spell waits. Shards with records never wait here.
 */
export class IdleReadPacer {
  private readonly queue: (() => void)[] = [];
  private head = 0;
  private tokens: number;
  private refilledAt: number;
  private timer: NodeJS.Timeout | undefined;

  /** `perSecond`: idle polls a second for the whole worker; infinite lets every poll through at once. */
  constructor(
    private readonly perSecond: number,
    private readonly monotonicNow: () => number = () => performance.now(),
  ) {
    this.tokens = this.burst;
    this.refilledAt = monotonicNow();
  }

  /** Idle shards waiting for their turn. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Resolves when this idle shard may poll (at once while the worker is under its rate); on abort, at once. */
  turn(signal: AbortSignal): Promise<void> {
    if (!Number.isFinite(this.perSecond) || signal.aborted) return Promise.resolve();
    this.refill();
    if (this.waiting === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const release = () => {
        signal.removeEventListener('abort', abandon);
        resolve();
      };
      // An abandoned turn is skipped when it comes up: its slot passes to the next in line.
      const abandon = () => {
        entry.abandoned = true;
        resolve();
      };
      const entry = Object.assign(release, { abandoned: false });
      signal.addEventListener('abort', abandon, { once: true });
      this.queue.push(entry);
      this.schedule();
    });
  }

  /** Stops the timer; waiting shards are let through. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.waiting > 0) this.queue[this.head++]!();
    this.compact();
  }

  /** A second's worth of polls at most, so a worker that was quiet does not poll every shard at once. */
  private get burst(): number {
    return Math.max(1, Math.min(this.perSecond, 1_000));
  }

  private refill(): void {
    const now = this.monotonicNow();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1_000) * this.perSecond);
    this.refilledAt = now;
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    const untilNextMs = Math.max(MIN_TICK_MS, ((1 - this.tokens) / this.perSecond) * 1_000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.release();
    }, untilNextMs);
    this.timer.unref();
  }

  private release(): void {
    this.refill();
    while (this.waiting > 0 && this.tokens >= 1) {
      const next = this.queue[this.head++] as (() => void) & { abandoned?: boolean };
      if (next.abandoned) continue;
      this.tokens -= 1;
      next();
    }
    this.compact();
    if (this.waiting > 0) this.schedule();
  }

  /** Drops the released part of the queue once it is large, so the array does not grow for ever. */
  private compact(): void {
    if (this.waiting === 0) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1_024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
