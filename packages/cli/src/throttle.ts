export interface Throttle {
  /** Runs the task now if it has not run within the interval, else once when the interval ends. */
  schedule(): void;
  /** Drops a scheduled run. */
  cancel(): void;
}

/**
 * Rate-limits a task to one run per `intervalMs`: a burst of changes costs one run at once and
 * one trailing run with the last of them, never a run per change.
 */
export function createThrottle(task: () => void, intervalMs: number, now: () => number = Date.now): Throttle {
  let lastRunAt = Number.NEGATIVE_INFINITY;
  let timer: NodeJS.Timeout | undefined;
  const run = (): void => {
    timer = undefined;
    lastRunAt = now();
    task();
  };
  return {
    schedule() {
      if (timer) return;
      const waitMs = lastRunAt + intervalMs - now();
      if (waitMs <= 0) run();
      else timer = setTimeout(run, waitMs);
    },
    cancel() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
