import { describe, expect, it } from 'vitest';
import type { FleetMove } from '../src/fleet/fleet-plan.js';
import { TakeQueue } from '../src/fleet/member/take-queue.js';
import { hostedRef } from '../src/machines/worker-machine.js';

const move = (leaseKey: string, leaseCounter = 1): FleetMove => ({ kind: 'take', leaseKey, from: undefined, to: 'me', leaseCounter });

describe('TakeQueue', () => {
  it('keeps at most `concurrency` takes in flight, and carries out every one', async () => {
    let inFlight = 0;
    let most = 0;
    const taken: string[] = [];
    const queue = new TakeQueue(
      3,
      async ({ leaseKey }) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        taken.push(leaseKey);
        inFlight -= 1;
      },
      () => {},
    );
    for (let n = 0; n < 20; n += 1) queue.add(move(`lease-${n}`));
    while (taken.length < 20) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(most).toBe(3);
    expect(new Set(taken).size).toBe(20);
  });

  it('replaces a waiting move by a newer one for the same lease, reports failures and goes on', async () => {
    const taken: FleetMove[] = [];
    const failed: string[] = [];
    let release: () => void = () => {};
    const queue = new TakeQueue(
      1,
      async (next) => {
        if (next.leaseKey === 'blocker') await new Promise<void>((resolve) => (release = resolve));
        if (next.leaseKey === 'broken') throw new Error('conditional write timed out');
        taken.push(next);
      },
      (_error, failedMove) => failed.push(failedMove.leaseKey),
    );
    queue.add(move('blocker'));
    queue.add(move('a', 1));
    queue.add(move('broken'));
    queue.add(move('a', 2));
    expect(queue.size).toBe(2);
    release();
    while (taken.length < 2) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(taken.map((t) => `${t.leaseKey}@${t.leaseCounter}`)).toEqual(['blocker@1', 'a@2']);
    expect(failed).toEqual(['broken']);
  });

  it('takes a move sent again once: not again while it runs, and in its place while it waits', async () => {
    const taken: string[] = [];
    const releases = new Map<string, () => void>();
    const queue = new TakeQueue(
      1,
      async ({ leaseKey }) => {
        await new Promise<void>((resolve) => releases.set(leaseKey, resolve));
        taken.push(leaseKey);
      },
      () => {},
    );
    for (const leaseKey of ['a', 'b', 'c']) queue.add(move(leaseKey));
    // The leader's plan again, while `a` is being taken and `b`, `c` wait.
    for (const leaseKey of ['a', 'c', 'b']) queue.add(move(leaseKey));
    expect(queue.size).toBe(2);
    for (const leaseKey of ['a', 'b', 'c']) {
      while (!releases.has(leaseKey)) await new Promise((resolve) => setTimeout(resolve, 1));
      releases.get(leaseKey)!();
    }
    while (taken.length < 3) await new Promise((resolve) => setTimeout(resolve, 1));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(taken).toEqual(['a', 'b', 'c']);
  });
});

describe('hostedRef', () => {
  it('finds only leases hosted under the key, never a member of the object prototype', () => {
    const ref = {} as never;
    const context = { leases: { 'shardId-000000000000': ref } };
    expect(hostedRef(context, 'shardId-000000000000')).toBe(ref);
    for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'shardId-000000000001']) {
      expect(hostedRef(context, key)).toBeUndefined();
    }
  });
});
