import { describe, expect, it } from 'vitest';
import type { Clock } from '../src/clock.js';
import { WorkerLiveness } from '../src/fleet/liveness/worker-liveness.js';

function manualClock() {
  let now = 0;
  const clock: Clock = { now: () => now, monotonic: () => now, sleep: async () => {} };
  return { clock, advance: (ms: number) => (now += ms) };
}

describe('WorkerLiveness', () => {
  it('in table mode, fences once the last heartbeat is older than the self-fence point', () => {
    const { clock, advance } = manualClock();
    const liveness = new WorkerLiveness(10_000, clock);
    advance(10_000);
    expect(liveness.isFenced()).toBe(false);
    advance(1);
    expect(liveness.isFenced()).toBe(true);
    liveness.confirm(10_001);
    expect(liveness.isFenced()).toBe(false);
  });

  it('in nats mode, lives on an unbroken chain of grants of one term', () => {
    const { clock, advance } = manualClock();
    const liveness = new WorkerLiveness(10_000, clock);
    liveness.grant(0, 1_500, 7);
    liveness.enterNats();
    advance(1_000);
    liveness.grant(1_000, 1_500, 7);
    advance(1_400);
    expect(liveness.isFenced()).toBe(false);
    advance(101);
    expect(liveness.isFenced()).toBe(true);
    expect(liveness.grantsLapsed()).toBe(true);
  });

  it('does not let a late grant or another term revive a broken chain', () => {
    const { clock, advance } = manualClock();
    const liveness = new WorkerLiveness(10_000, clock);
    liveness.grant(0, 1_500, 7);
    liveness.enterNats();
    advance(5_000);
    // A request sent before a pause, answered after it, and a fresh grant: neither counts.
    liveness.grant(1_000, 1_500, 7);
    liveness.grant(5_000, 1_500, 7);
    expect(liveness.isFenced()).toBe(true);
    liveness.grant(5_000, 1_500, 8);
    expect(liveness.isFenced()).toBe(true);
  });

  it('never extends a running chain with a grant of another term', () => {
    const { clock, advance } = manualClock();
    const liveness = new WorkerLiveness(10_000, clock);
    liveness.grant(0, 1_500, 7);
    liveness.enterNats();
    advance(1_000);
    liveness.grant(1_000, 1_500, 8);
    advance(501);
    expect(liveness.isFenced()).toBe(true);
  });

  it('goes back to table heartbeats after the switch, with the switch as its last heartbeat', () => {
    const { clock, advance } = manualClock();
    const liveness = new WorkerLiveness(10_000, clock);
    liveness.grant(0, 1_500, 7);
    liveness.enterNats();
    advance(2_000);
    expect(liveness.isFenced()).toBe(true);
    liveness.enterTable(2_000);
    expect(liveness.mode).toBe('table');
    expect(liveness.isFenced()).toBe(false);
    expect(liveness.grantTerm).toBeUndefined();
  });
});

describe('WorkerLiveness after a switch to nats that got no answer', () => {
  it('keeps both rules: fenced when grants lapse, and when table heartbeats run out', () => {
    const { clock, advance } = manualClock();
    const liveness = new WorkerLiveness(10_000, clock);
    liveness.grant(0, 1_500, 7);
    liveness.enterUncertain();
    advance(1_000);
    liveness.grant(1_000, 1_500, 7);
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
