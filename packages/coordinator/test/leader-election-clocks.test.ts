import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LeaderElection, type ElectionClock } from '../src/leadership/leader-election.js';
import type { ConditionalWriteResult, LeadershipRecord } from '../src/lease-table/lease.js';
import type { LeaseStore } from '../src/lease-table/lease-store.js';

/** A leadership row in memory: claims and renewals always apply. */
class OneRowStore {
  row: LeadershipRecord | undefined;
  async claimLeadership(
    namespace: string,
    workerId: string,
    expected: LeadershipRecord | undefined,
  ): Promise<ConditionalWriteResult<LeadershipRecord>> {
    this.row = { namespace, leaderId: workerId, term: (expected?.term ?? 0) + 1, heartbeat: 0 };
    return { status: 'applied', value: this.row };
  }
  async renewLeadership(held: LeadershipRecord): Promise<ConditionalWriteResult<LeadershipRecord>> {
    this.row = { ...held, heartbeat: held.heartbeat + 1 };
    return { status: 'applied', value: this.row };
  }
  async resignLeadership(): Promise<ConditionalWriteResult<void>> {
    return { status: 'applied', value: undefined };
  }
}

/** Clocks the test moves: `suspend` moves wall time alone, as while the machine sleeps. */
function testClock() {
  let monotonic = 0;
  let wall = 1_700_000_000_000;
  const clock: ElectionClock = {
    monotonic: () => monotonic,
    now: () => wall,
    // The renewal loop must not run on its own here: it waits until the test ends.
    sleep: (_ms, signal) => new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true })),
  };
  return {
    clock,
    advance: (ms: number) => {
      monotonic += ms;
      wall += ms;
    },
    suspend: (ms: number) => (wall += ms),
  };
}

describe('LeaderElection against a suspended machine', () => {
  it('stops acting once wall time passes its term, though the monotonic clock stood still', async () => {
    const { clock, advance, suspend } = testClock();
    const deposed: string[] = [];
    const election = new LeaderElection({
      store: new OneRowStore() as unknown as LeaseStore,
      namespace: 'app/stream',
      workerId: 'worker-a',
      leadershipDurationMs: 2_500,
      renewIntervalMs: 1_000,
      clock,
      logger: pino({ level: 'silent' }),
      onDeposed: (reason) => void deposed.push(reason),
    });
    election.start();
    await election.observe(undefined, clock.monotonic());
    expect(election.isLeader()).toBe(true);
    advance(1_000);
    expect(election.remainingMs()).toBe(1_000);

    // Others claimed the row while this machine was suspended for a minute.
    suspend(60_000);
    expect(election.remainingMs()).toBe(0);
    expect(election.isLeader()).toBe(false);
    expect(deposed).toEqual(['leadership not renewed in time']);
    await election.stop();
  });
});
