import type { Clock } from '../../src/clock.js';

/**
 * Virtual time for simulations: `sleep` waits until `runUntil` moves the clock past its due time.
 * Monotonic and wall time move together (wall = base + monotonic).
 */
export class VirtualClock implements Clock {
  private t = 0;
  private readonly base = 1_700_000_000_000;
  private timers: { due: number; seq: number; fire: () => void }[] = [];
  private seq = 0;

  now = (): number => this.base + this.t;
  monotonic = (): number => this.t;

  sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = { due: this.t + Math.max(0, ms), seq: (this.seq += 1), fire: () => resolve() };
      this.timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((other) => other !== timer);
          reject(signal.reason);
        },
        { once: true },
      );
    });

  /** Runs every timer due up to `target` in order, letting promise chains settle after each. */
  async runUntil(target: number): Promise<void> {
    for (;;) {
      await settle();
      const next = this.timers.filter((timer) => timer.due <= target).sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (!next) break;
      this.timers = this.timers.filter((timer) => timer !== next);
      this.t = Math.max(this.t, next.due);
      next.fire();
    }
    this.t = Math.max(this.t, target);
    await settle();
  }
}

/** Lets pending promise callbacks (several hops deep) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i += 1) await Promise.resolve();
}
