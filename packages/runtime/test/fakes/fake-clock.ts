import type { Clock } from '../../src/clock.js';

/**
 * A clock whose `sleep` records the delay and returns on the next turn of the event loop, so
 * backoff is instant but a retry loop can never starve the timers vitest relies on.
 */
export class RecordingClock implements Clock {
  readonly sleeps: number[] = [];

  now(): number {
    return 1_714_979_289_010;
  }

  monotonic(): number {
    return 0;
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
