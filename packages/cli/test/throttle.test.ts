import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createThrottle } from '../src/throttle.js';

describe('createThrottle', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs at once, then at most once per interval with one trailing run for a burst', () => {
    const runs: number[] = [];
    const throttle = createThrottle(() => runs.push(Date.now()), 200);
    throttle.schedule();
    expect(runs).toEqual([0]);
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(10);
      throttle.schedule();
    }
    expect(runs).toEqual([0]);
    vi.advanceTimersByTime(100);
    expect(runs).toEqual([0, 200]);
    vi.advanceTimersByTime(1_000);
    expect(runs).toEqual([0, 200]);
    throttle.schedule();
    expect(runs).toEqual([0, 200, 1_200]);
  });

  it('drops a scheduled run on cancel', () => {
    const task = vi.fn();
    const throttle = createThrottle(task, 200);
    throttle.schedule();
    throttle.schedule();
    throttle.cancel();
    vi.advanceTimersByTime(1_000);
    expect(task).toHaveBeenCalledTimes(1);
  });
});
