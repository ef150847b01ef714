/**
 * Time as Shoal's components see it. `now` is wall time (epoch ms) for timestamps people read;
 * `monotonic` only ever grows and is what every deadline and expiry is measured with.
 */
export interface Clock {
  now(): number;
  monotonic(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) => sleep(ms, signal),
};

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * One moment on both clocks. Deadlines are kept as instants and count as passed once either
 * clock passes them: the monotonic clock is immune to wall-clock steps, but stands still while
 * the machine is suspended, when only wall time moves on.
 */
export interface Instant {
  readonly monotonic: number;
  readonly wall: number;
}

/** Now, on both clocks. */
export function instantOf(clock: Clock): Instant {
  return { monotonic: clock.monotonic(), wall: clock.now() };
}

/** `instant` moved `ms` later on both clocks. */
export function later(instant: Instant, ms: number): Instant {
  return { monotonic: instant.monotonic + ms, wall: instant.wall + ms };
}

/** Whether either clock has passed `deadline`. */
export function hasPassed(clock: Clock, deadline: Instant): boolean {
  return clock.monotonic() > deadline.monotonic || clock.now() > deadline.wall;
}

/** Milliseconds until the first of the two clocks passes `deadline`; 0 once it has. */
export function remainingUntil(clock: Clock, deadline: Instant): number {
  return Math.max(0, Math.min(deadline.monotonic - clock.monotonic(), deadline.wall - clock.now()));
}

/** The earlier of two deadlines, clock by clock. */
export function earliest(a: Instant, b: Instant): Instant {
  return { monotonic: Math.min(a.monotonic, b.monotonic), wall: Math.min(a.wall, b.wall) };
}
