import { InvalidArgumentError } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { EventLoopLoadSampler, InMemoryWorkerLoadStore } from '../src/index.js';

/** A wall clock the test moves by hand. */
class FakeClock {
  nowMs = 1_700_000_000_000;
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: nothing else runs on this loop meanwhile
  }
}

describe('EventLoopLoadSampler', () => {
  it('reports records per second over each window, on the injected clock', () => {
    const clock = new FakeClock();
    using sampler = new EventLoopLoadSampler({ clock });
    sampler.start();
    sampler.recordProcessed(300);
    sampler.recordProcessed(200);
    clock.advance(2_000);
    const first = sampler.sample();
    expect(first.recordsPerSecond).toBe(250);
    expect(first.reportedAt).toBe(clock.nowMs);
    // The next window starts empty.
    sampler.recordProcessed(100);
    clock.advance(500);
    expect(sampler.sample().recordsPerSecond).toBe(200);
    clock.advance(1_000);
    expect(sampler.sample().recordsPerSecond).toBe(0);
  });

  it('ignores counts that are not positive numbers, and reports 0 for an empty window', () => {
    const clock = new FakeClock();
    const sampler = new EventLoopLoadSampler({ clock });
    sampler.recordProcessed(-5);
    sampler.recordProcessed(Number.NaN);
    expect(sampler.sample()).toEqual({ eventLoopLagMs: 0, recordsPerSecond: 0, reportedAt: clock.nowMs });
  });

  it('measures a blocked event loop as lag', async () => {
    using sampler = new EventLoopLoadSampler({ resolutionMs: 10 });
    sampler.start();
    await sleep(50);
    blockEventLoop(150);
    await sleep(50);
    const load = sampler.sample();
    expect(load.eventLoopLagMs).toBeGreaterThanOrEqual(100);
    expect(Number.isFinite(load.eventLoopLagMs)).toBe(true);
  });

  it('starts, stops and restarts, idempotently', async () => {
    const sampler = new EventLoopLoadSampler({ resolutionMs: 10 });
    expect(sampler.state).toBe('idle');
    sampler.start();
    sampler.start();
    expect(sampler.state).toBe('running');
    sampler.stop();
    sampler.stop();
    expect(sampler.state).toBe('stopped');
    sampler.start();
    expect(sampler.state).toBe('running');
    await sleep(30);
    expect(sampler.sample().eventLoopLagMs).toBeGreaterThanOrEqual(0);
    sampler[Symbol.dispose]();
    expect(sampler.state).toBe('stopped');
  });

  it('rejects invalid options', () => {
    expect(() => new EventLoopLoadSampler({ resolutionMs: 0 })).toThrow(InvalidArgumentError);
    expect(() => new EventLoopLoadSampler({ lagPercentile: 101 })).toThrow(/lagPercentile/);
  });
});

describe('InMemoryWorkerLoadStore', () => {
  it('keeps each application’s fresh loads and drops expired ones', async () => {
    const clock = new FakeClock();
    const store = new InMemoryWorkerLoadStore(15_000, clock.now);
    const load = { eventLoopLagMs: 3, recordsPerSecond: 40, reportedAt: clock.nowMs };
    await store.report('billing', 'w1', load);
    clock.advance(10_000);
    await store.report('billing', 'w2', { ...load, recordsPerSecond: 7 });
    await store.report('audit', 'w1', load);
    expect(await store.readAll('billing')).toEqual(
      new Map([
        ['w1', load],
        ['w2', { ...load, recordsPerSecond: 7 }],
      ]),
    );
    clock.advance(5_000);
    expect([...(await store.readAll('billing')).keys()]).toEqual(['w2']);
    expect(await store.readAll('nobody')).toEqual(new Map());
  });
});
