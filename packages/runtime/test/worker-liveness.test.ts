import { describe, expect, it } from 'vitest';
import type { Clock, Instant } from '../src/clock.js';
import { WorkerLiveness } from '../src/fleet/liveness/worker-liveness.js';

function manualClock() {
  let now = 0;
  let wallAhead = 0;
  const clock: Clock = { now: () => now + wallAhead, monotonic: () => now, sleep: async () => {} };
  return {
    clock,
    advance: (ms: number) => (now += ms),
    /** Wall time moves on alone, as while the machine is suspended (the monotonic clock stands still). */
    suspend: (ms: number) => (wallAhead += ms),
  };
}

/** A worker living on a grant of term 7 asked for at 0, valid 1.5 s, with a 10 s table self-fence. */
function inNatsMode() {
  const { clock, advance } = manualClock();
  const liveness = new WorkerLiveness(10_000, clock);
  liveness.grant(at(0), 1_500, 7);
  liveness.enterNats();
  return { liveness, advance };
}

/** The same moment on both clocks (the manual clock keeps them equal). */
const at = (ms: number): Instant => ({ monotonic: ms, wall: ms });

describe('WorkerLiveness', () => {
  it('in table mode, fences once the last heartbeat is older than the self-fence point', () => {
    const { clock, advance } = manualClock();
    const liveness = new WorkerLiveness(10_000, clock);
    advance(10_000);
    expect(liveness.isFenced()).toBe(false);
    advance(1);
    expect(liveness.isFenced()).toBe(true);
    liveness.confirm(at(10_001));
    expect(liveness.isFenced()).toBe(false);
  });

  it('in nats mode, lives on an unbroken chain of grants of one term', () => {
    const { liveness, advance } = inNatsMode();
    advance(1_000);
    liveness.grant(at(1_000), 1_500, 7);
    advance(1_400);
    expect(liveness.isFenced()).toBe(false);
    advance(101);
    expect(liveness.isFenced()).toBe(true);
    expect(liveness.grantsLapsed()).toBe(true);
  });

  it('does not let a late grant or another term revive a broken chain', () => {
    const { liveness, advance } = inNatsMode();
    advance(5_000);
    // A request sent before a pause, answered after it, and a fresh grant: neither counts.
    liveness.grant(at(1_000), 1_500, 7);
    liveness.grant(at(5_000), 1_500, 7);
    expect(liveness.isFenced()).toBe(true);
    liveness.grant(at(5_000), 1_500, 8);
    expect(liveness.isFenced()).toBe(true);
  });

  it('never extends a running chain with a grant of another term', () => {
    const { liveness, advance } = inNatsMode();
    advance(1_000);
    liveness.grant(at(1_000), 1_500, 8);
    advance(501);
    expect(liveness.isFenced()).toBe(true);
  });

  it('goes back to table heartbeats after the switch, with the switch as its last heartbeat', () => {
    const { liveness, advance } = inNatsMode();
    advance(2_000);
    expect(liveness.isFenced()).toBe(true);
    liveness.enterTable(at(2_000));
    expect(liveness.mode).toBe('table');
    expect(liveness.isFenced()).toBe(false);
    expect(liveness.grantTerm).toBeUndefined();
  });
});

describe('WorkerLiveness after a switch to nats that got no answer', () => {
  it('keeps both rules: fenced when grants lapse, and when table heartbeats run out', () => {
    const { clock, advance } = manualClock();
    const liveness = new WorkerLiveness(10_000, clock);
    liveness.grant(at(0), 1_500, 7);
    liveness.enterUncertain();
    advance(1_000);
    liveness.grant(at(1_000), 1_500, 7);
    expect(liveness.isFenced()).toBe(false);
    advance(1_600);
    expect(liveness.isFenced()).toBe(true);
    expect(liveness.tableLivenessExpired()).toBe(false);

    liveness.stayTable();
    expect(liveness.isFenced()).toBe(false);
    advance(7_500);
    expect(liveness.tableLivenessExpired()).toBe(true);
  });
});

describe('WorkerLiveness against a suspended machine', () => {
  it('fences by wall time when the monotonic clock stood still (table mode)', () => {
    const { clock, suspend } = manualClock();
    const liveness = new WorkerLiveness(10_000, clock);
    suspend(10_001);
    expect(liveness.isFenced()).toBe(true);
    expect(liveness.tableLivenessExpired()).toBe(true);
  });

  it('fences by wall time in nats mode, and no grant asked for before the suspension revives the chain', () => {
    const { clock, advance, suspend } = manualClock();
    const liveness = new WorkerLiveness(10_000, clock);
    liveness.grant(at(0), 1_500, 7);
    liveness.enterNats();
    advance(200);
    const askedBefore = { monotonic: 200, wall: 200 };
    suspend(60_000);
    expect(liveness.isFenced()).toBe(true);
    expect(liveness.remainingMs()).toBe(0);
    liveness.grant(askedBefore, 1_500, 7);
    expect(liveness.isFenced()).toBe(true);
  });

  it('counts remaining time by whichever clock is nearer its deadline', () => {
    const { clock, advance, suspend } = manualClock();
    const liveness = new WorkerLiveness(10_000, clock);
    advance(2_000);
    expect(liveness.remainingMs()).toBe(8_000);
    suspend(5_000);
    expect(liveness.remainingMs()).toBe(3_000);
  });
});

describe('WorkerLiveness: the signal of a period of confirmed liveness', () => {
  it('aborts once the deadline passed, and a fresh one is handed out once liveness is confirmed again', async () => {
    let now = 0;
    const clock: Clock = { now: () => Date.now() + now, monotonic: () => performance.now() + now, sleep: async () => {} };
    const liveness = new WorkerLiveness(40, clock);
    const first = liveness.signal();
    expect(first.aborted).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(first.aborted).toBe(true);
    expect(liveness.signal().aborted).toBe(true);
    liveness.confirm({ monotonic: clock.monotonic(), wall: clock.now() });
    const second = liveness.signal();
    expect(second.aborted).toBe(false);
    now += 1_000;
    expect(liveness.isFenced()).toBe(true);
  });
});

describe('WorkerLiveness when the leader changes', () => {
  it('notes a newer term’s grants while the chain runs, and goes on under them once the record names that term', () => {
    const { liveness, advance } = inNatsMode();
    advance(1_000);
    liveness.grant(at(1_000), 1_500, 8);
    expect(liveness.pendingTerm).toBe(8);
    expect(liveness.grantTerm).toBe(7);
    liveness.adoptTerm(8);
    expect(liveness.grantTerm).toBe(8);
    expect(liveness.pendingTerm).toBeUndefined();
    advance(1_400); // past the last grant of term 7, within the grant of term 8
    expect(liveness.isFenced()).toBe(false);
    liveness.grant(at(2_400), 1_500, 8);
    advance(1_000);
    expect(liveness.isFenced()).toBe(false);
  });

  it('offers no newer term once its chain broke, nor an older one', () => {
    const { liveness, advance } = inNatsMode();
    liveness.grant(at(0), 1_500, 6);
    expect(liveness.pendingTerm).toBeUndefined();
    advance(1_600);
    liveness.grant(at(1_600), 1_500, 8);
    expect(liveness.pendingTerm).toBeUndefined();
    expect(liveness.isFenced()).toBe(true);
  });
});
