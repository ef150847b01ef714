import { describe, expect, it } from 'vitest';
import { LivenessTracker, OwnershipTracker, type Lease, type WorkerRecord } from '../src/index.js';

const LEASE_DURATION_MS = 15_000;
const NAMESPACE = 'app/stream';

/** A monotonic clock the test moves by hand. */
class FakeClock {
  nowMs = 1_000_000;
  readonly monotonic = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

function workerRecord(workerId: string, heartbeat: number): WorkerRecord {
  return {
    namespace: NAMESPACE,
    workerId,
    heartbeat,
    status: 'active',
    liveness: 'table',
    grantTerm: undefined,
    startedAt: 0,
    host: undefined,
  };
}

function lease(leaseKey: string, leaseOwner: string | undefined, leaseCounter: number): Lease {
  return {
    namespace: NAMESPACE,
    leaseKey,
    shardId: leaseKey,
    streamName: undefined,
    leaseOwner,
    leaseCounter,
    checkpoint: { type: 'TRIM_HORIZON' },
    parentShardIds: [],
    childShardIds: [],
    hashKeyRange: undefined,
    pendingOwner: undefined,
    checkpointedAt: undefined,
  };
}

describe('LivenessTracker', () => {
  function setup() {
    const clock = new FakeClock();
    return { clock, tracker: new LivenessTracker(LEASE_DURATION_MS, clock.monotonic) };
  }

  it('knows nothing about a worker it has not observed', () => {
    const { tracker } = setup();
    expect(tracker.isAlive('a')).toBe(false);
    expect(tracker.deadHeartbeat('a')).toBeUndefined();
  });

  it('counts a newly observed worker as alive, whatever its heartbeat value', () => {
    const { tracker } = setup();
    tracker.observe([workerRecord('a', 42)]);
    expect(tracker.isAlive('a')).toBe(true);
    expect(tracker.deadHeartbeat('a')).toBeUndefined();
  });

  it('keeps a worker alive for as long as its heartbeat moves', () => {
    const { clock, tracker } = setup();
    for (let heartbeat = 0; heartbeat < 20; heartbeat++) {
      tracker.observe([workerRecord('a', heartbeat)]);
      clock.advance(LEASE_DURATION_MS - 1);
      expect(tracker.isAlive('a')).toBe(true);
    }
  });

  it('judges a worker dead after a full lease duration without a change, and not before', () => {
    const { clock, tracker } = setup();
    tracker.observe([workerRecord('a', 7)]);
    // Re-reading the same value does not restart the wait.
    for (let i = 0; i < 14; i++) {
      clock.advance(1_000);
      tracker.observe([workerRecord('a', 7)]);
    }
    clock.advance(999);
    expect(tracker.isAlive('a')).toBe(true);
    expect(tracker.deadHeartbeat('a')).toBeUndefined();
    clock.advance(1);
    expect(tracker.isAlive('a')).toBe(false);
    expect(tracker.deadHeartbeat('a')).toBe(7);
  });

  it('judges from its own clock even when it does not read in between', () => {
    const { clock, tracker } = setup();
    tracker.observe([workerRecord('a', 3)]);
    clock.advance(LEASE_DURATION_MS);
    expect(tracker.deadHeartbeat('a')).toBe(3);
  });

  it('revives a dead worker whose heartbeat changes', () => {
    const { clock, tracker } = setup();
    tracker.observe([workerRecord('a', 3)]);
    clock.advance(LEASE_DURATION_MS * 2);
    expect(tracker.isAlive('a')).toBe(false);
    tracker.observe([workerRecord('a', 4)]);
    expect(tracker.isAlive('a')).toBe(true);
    expect(tracker.deadHeartbeat('a')).toBeUndefined();
    clock.advance(LEASE_DURATION_MS);
    expect(tracker.deadHeartbeat('a')).toBe(4);
  });

  it('treats any change as a heartbeat, including a lower value (a re-registered worker)', () => {
    const { clock, tracker } = setup();
    tracker.observe([workerRecord('a', 90)]);
    clock.advance(LEASE_DURATION_MS - 1);
    tracker.observe([workerRecord('a', 0)]);
    clock.advance(LEASE_DURATION_MS - 1);
    expect(tracker.isAlive('a')).toBe(true);
  });

  it('forgets workers whose records are gone, and starts afresh if they come back', () => {
    const { clock, tracker } = setup();
    tracker.observe([workerRecord('a', 1), workerRecord('b', 1)]);
    clock.advance(LEASE_DURATION_MS);
    expect(tracker.deadHeartbeat('a')).toBe(1);
    tracker.observe([workerRecord('b', 2)]);
    expect(tracker.isAlive('a')).toBe(false);
    expect(tracker.deadHeartbeat('a')).toBeUndefined();
    expect(tracker.isAlive('b')).toBe(true);
    // The same heartbeat value after a gap counts as a new observation.
    tracker.observe([workerRecord('a', 1), workerRecord('b', 2)]);
    expect(tracker.isAlive('a')).toBe(true);
  });

  it('tracks each worker on its own', () => {
    const { clock, tracker } = setup();
    tracker.observe([workerRecord('a', 1), workerRecord('b', 1)]);
    clock.advance(LEASE_DURATION_MS / 2);
    tracker.observe([workerRecord('a', 2), workerRecord('b', 1)]);
    clock.advance(LEASE_DURATION_MS / 2);
    expect(tracker.isAlive('a')).toBe(true);
    expect(tracker.isAlive('b')).toBe(false);
    expect(tracker.deadHeartbeat('b')).toBe(1);
  });
});

describe('OwnershipTracker', () => {
  function setup() {
    const clock = new FakeClock();
    return { clock, tracker: new OwnershipTracker(LEASE_DURATION_MS, clock.monotonic) };
  }

  it('does not expire a lease it has not observed', () => {
    const { tracker } = setup();
    expect(tracker.isUnchangedForLeaseDuration(lease('s1', 'a', 1))).toBe(false);
  });

  it('expires an ownership unchanged for a full lease duration, and not before', () => {
    const { clock, tracker } = setup();
    tracker.observe([lease('s1', 'a', 1)]);
    clock.advance(LEASE_DURATION_MS - 1);
    tracker.observe([lease('s1', 'a', 1)]);
    expect(tracker.isUnchangedForLeaseDuration(lease('s1', 'a', 1))).toBe(false);
    clock.advance(1);
    expect(tracker.isUnchangedForLeaseDuration(lease('s1', 'a', 1))).toBe(true);
  });

  it('restarts the wait when the counter changes (same owner, new epoch)', () => {
    const { clock, tracker } = setup();
    tracker.observe([lease('s1', 'a', 1)]);
    clock.advance(LEASE_DURATION_MS - 1);
    tracker.observe([lease('s1', 'a', 3)]);
    clock.advance(LEASE_DURATION_MS - 1);
    expect(tracker.isUnchangedForLeaseDuration(lease('s1', 'a', 3))).toBe(false);
    clock.advance(1);
    expect(tracker.isUnchangedForLeaseDuration(lease('s1', 'a', 3))).toBe(true);
  });

  it('restarts the wait when the owner changes', () => {
    const { clock, tracker } = setup();
    tracker.observe([lease('s1', 'a', 1)]);
    clock.advance(LEASE_DURATION_MS * 2);
    expect(tracker.isUnchangedForLeaseDuration(lease('s1', 'a', 1))).toBe(true);
    tracker.observe([lease('s1', 'b', 2)]);
    expect(tracker.isUnchangedForLeaseDuration(lease('s1', 'b', 2))).toBe(false);
  });

  it('forgets leases that became unowned or disappeared', () => {
    const { clock, tracker } = setup();
    tracker.observe([lease('s1', 'a', 1), lease('s2', 'a', 1)]);
    clock.advance(LEASE_DURATION_MS);
    tracker.observe([lease('s1', undefined, 2)]);
    expect(tracker.isUnchangedForLeaseDuration(lease('s1', 'a', 1))).toBe(false);
    expect(tracker.isUnchangedForLeaseDuration(lease('s2', 'a', 1))).toBe(false);
    // Owned again with the old values: a fresh observation.
    tracker.observe([lease('s2', 'a', 1)]);
    expect(tracker.isUnchangedForLeaseDuration(lease('s2', 'a', 1))).toBe(false);
  });

  it('tracks each lease on its own', () => {
    const { clock, tracker } = setup();
    tracker.observe([lease('s1', 'a', 1), lease('s2', 'b', 1)]);
    clock.advance(LEASE_DURATION_MS / 2);
    tracker.observe([lease('s1', 'a', 1), lease('s2', 'c', 2)]);
    clock.advance(LEASE_DURATION_MS / 2);
    expect(tracker.isUnchangedForLeaseDuration(lease('s1', 'a', 1))).toBe(true);
    expect(tracker.isUnchangedForLeaseDuration(lease('s2', 'c', 2))).toBe(false);
  });
});
