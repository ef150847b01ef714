import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { IdleReadPacer } from '../src/consumer/idle-read-pacer.js';

describe('IdleReadPacer', () => {
  it('lets a second’s worth of polls through at once, then one per 1/rate, in the order asked', async () => {
    const pacer = new IdleReadPacer(50);
    const signal = new AbortController().signal;
    const order: number[] = [];
    await Promise.all(Array.from({ length: 50 }, () => pacer.turn(signal)));
    const startedAt = performance.now();
    const waiting = Array.from({ length: 10 }, (_, n) => pacer.turn(signal).then(() => order.push(n)));
    expect(pacer.waiting).toBe(10);
    await Promise.all(waiting);
    // 10 more at 50 a second take about 200 ms; the bound is loose, the order is exact.
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(150);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(pacer.waiting).toBe(0);
    pacer.close();
  });

  it('gives an abandoned turn to the next in line, and lets everyone through when closed', async () => {
    const pacer = new IdleReadPacer(1);
    const signal = new AbortController().signal;
    await pacer.turn(signal);
    const leaving = new AbortController();
    const abandoned = pacer.turn(leaving.signal);
    const next = pacer.turn(signal);
    leaving.abort();
    await abandoned;
    let nextDone = false;
    void next.then(() => (nextDone = true));
    // At one a second the next turn comes after about a second; closing lets it through now.
    await sleep(50);
    expect(nextDone).toBe(false);
    pacer.close();
    await next;
    expect(pacer.waiting).toBe(0);
  });

  it('paces nothing at an infinite rate', async () => {
    const pacer = new IdleReadPacer(Number.POSITIVE_INFINITY);
    const signal = new AbortController().signal;
    await Promise.all(Array.from({ length: 10_000 }, () => pacer.turn(signal)));
    expect(pacer.waiting).toBe(0);
  });
});
