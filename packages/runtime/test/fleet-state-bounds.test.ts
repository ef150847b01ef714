import type { Lease, LeaseStore, NamespaceSnapshot, OwnershipTracker, WorkerRecord } from '@shoal/coordinator';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../src/clock.js';
import { FleetLeader } from '../src/fleet/leader/fleet-leader.js';
import { fleetLeaderWith, leaseSyncOn, silentBus, workerRecord } from './fakes/fleet.js';
import { testLease } from './fakes/records.js';

/**
 * State that grows with every dead worker must not grow forever: after a long churn of workers
 * that die and are replaced, what the lease sync and the leader remember is bounded by what the
 * table holds now.
 */
const NAMESPACE = 'app/stream';
const LEASE_COUNT = 4;

function manualClock() {
  let now = 0;
  const clock: Clock = { now: () => 1_700_000_000_000 + now, monotonic: () => now, sleep: async () => {} };
  return { clock, advance: (ms: number) => (now += ms) };
}

function worker(workerId: string, liveness: 'table' | 'nats', grantTerm?: number): WorkerRecord {
  return workerRecord(workerId, { namespace: NAMESPACE, liveness, grantTerm });
}

/** A table the test rewrites between reads; conditional deletes of workers always apply. */
class ChurningTable {
  snapshot: NamespaceSnapshot = { leases: [], workers: [], leadership: undefined };
  async readNamespace(): Promise<NamespaceSnapshot> {
    return this.snapshot;
  }
  async removeDeadWorker() {
    return { status: 'applied' as const, value: undefined };
  }
  async revokeWorker() {
    return { status: 'applied' as const, value: undefined };
  }
}

function leasesOwnedBy(owner: string): Lease[] {
  return Array.from({ length: LEASE_COUNT }, (_, i) =>
    testLease({ shardId: `shardId-00000000000${i}`, leaseOwner: owner, leaseCounter: 1 }),
  );
}

const leaders: FleetLeader[] = [];
afterEach(() => {
  for (const leader of leaders.splice(0)) leader.deposed();
  vi.useRealTimers();
});

describe('bounded fleet state', () => {
  it('the lease sync forgets removed workers once no lease names them', async () => {
    const { clock, advance } = manualClock();
    const table = new ChurningTable();
    const sync = leaseSyncOn(table, {
      namespace: NAMESPACE,
      workerId: 'survivor',
      leaseDurationMs: 1_000,
      leaseSyncIntervalMs: 200,
      clock,
    });
    for (let round = 0; round < 300; round += 1) {
      const dead = `dead-${round}`;
      table.snapshot = {
        leases: leasesOwnedBy(dead),
        workers: [worker('survivor', 'table'), worker(dead, 'table')],
        leadership: undefined,
      };
      await sync.sync();
      advance(1_001);
      await sync.sync(); // its heartbeat stood still for a lease duration: removed
    }
    table.snapshot = { leases: leasesOwnedBy('survivor'), workers: [worker('survivor', 'table')], leadership: undefined };
    await sync.sync();
    expect(sync.stateSizes()).toEqual({ removedWorkers: 0, unownedSince: 0, reportedMalformed: 0, askedChecks: 0, recentRecords: 0 });
  });

  it('the leader forgets grants, revocations and drains of workers and leases that are gone', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { clock, advance } = manualClock();
    const table = new ChurningTable();
    const published: unknown[] = [];
    const leader = fleetLeaderWith({
      bus: silentBus({
        publish: (event) => void published.push(event),
        publishPlan: (_to, plan) => void published.push(plan),
        sendCommand: async () => ({ accepted: true }),
      }),
      store: table as unknown as LeaseStore,
      namespace: NAMESPACE,
      ownerships: { isUnchangedForLeaseDuration: () => false } as unknown as OwnershipTracker,
      remainingTermMs: () => 1_000,
      clock,
    });
    leaders.push(leader);
    leader.elected({ namespace: NAMESPACE, leaderId: 'leader', term: 3, heartbeat: 0 }, undefined);
    for (let round = 0; round < 100; round += 1) {
      const dead = `dead-${round}`;
      table.snapshot = {
        leases: leasesOwnedBy(dead),
        workers: [worker('leader', 'nats', 3), worker(dead, 'nats', 3), worker(`fresh-${round}`, 'nats', 3)],
        leadership: undefined,
      };
      leader.observe(table.snapshot);
      advance(2_001);
      // The verdict runs on its own timer: the silent worker is revoked and its leases planned away.
      await vi.advanceTimersByTimeAsync(100);
      expect(published).toContainEqual({ type: 'worker-revoked', workerId: dead, leaderId: 'leader' });
    }
    // Drains are remembered (not to resend them too soon) for a few seconds only.
    advance(3_000);
    table.snapshot = { leases: leasesOwnedBy('leader'), workers: [worker('leader', 'nats', 3)], leadership: undefined };
    leader.observe(table.snapshot);
    expect(leader.stateSizes()).toEqual({
      grants: 0,
      revoked: 0,
      sentDrains: 0,
      sentTakes: 0,
      condemned: 0,
      silentChecked: 0,
      conflictedOn: 0,
      joiners: 0,
      lookingUp: 0,
    });
  });
});
