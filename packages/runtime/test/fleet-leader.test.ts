import { OwnershipTracker, type FleetEvent, type Lease, type LeaseMove, type LeaseStore, type NamespaceSnapshot } from '@shoal/coordinator';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetLeader } from '../src/fleet/leader/fleet-leader.js';
import { releaseLease } from '../src/leases/release-lease.js';
import { fleetLeaderWith, silentBus, workerRecord } from './fakes/fleet.js';
import { testLease } from './fakes/records.js';

const leaders: FleetLeader[] = [];
afterEach(() => {
  for (const leader of leaders.splice(0)) leader.deposed();
});

const record = (workerId: string) => workerRecord(workerId);
const leadership = { namespace: 'app/stream', leaderId: 'leader', term: 2, heartbeat: 5 };

function leaderOf() {
  let now = 0;
  const plans: FleetEvent[] = [];
  const own: LeaseMove[] = [];
  const ownerships = new OwnershipTracker(15_000, () => now);
  const leader = fleetLeaderWith({
    bus: silentBus({ publish: (event: FleetEvent) => void plans.push(event) }),
    ownerships,
    actOnOwnMoves: (moves) => void own.push(...moves),
    clock: { now: () => 1_700_000_000_000 + now, monotonic: () => now, sleep: async () => {} },
  });
  leaders.push(leader);
  leader.elected({ ...leadership }, undefined);
  return {
    leader,
    plans,
    own,
    observe: (snapshot: NamespaceSnapshot, at: number) => {
      now = at;
      ownerships.observe(snapshot.leases, at);
      leader.observe(snapshot);
    },
  };
}

describe('the leader and a worker record that vanished without its revocation', () => {
  it('plans a vanished owner’s leases onto live workers at once, as coordination.md says', () => {
    const { plans, own, observe } = leaderOf();
    // `gone` took two leases a moment ago (a scale-out, or handoffs to it); then its record vanished
    // without this leader revoking it: it deregistered with leases it could not release, another
    // worker removed it as dead, or this leader's own revocation applied but timed out.
    const leases: Lease[] = [
      testLease({ shardId: 'shardId-000000000010', leaseOwner: 'leader', leaseCounter: 3 }),
      testLease({ shardId: 'shardId-000000000011', leaseOwner: 'other', leaseCounter: 3 }),
      testLease({ shardId: 'shardId-000000000012', leaseOwner: 'gone', leaseCounter: 3 }),
      testLease({ shardId: 'shardId-000000000013', leaseOwner: 'gone', leaseCounter: 3 }),
    ];
    observe({ leases, workers: [record('leader'), record('other'), record('gone')], leadership }, 0);
    observe({ leases, workers: [record('leader'), record('other')], leadership }, 1_000);
    observe({ leases, workers: [record('leader'), record('other')], leadership }, 5_000);
    const moves = [...own, ...plans.flatMap((event) => (event.type === 'plan' ? event.moves : []))];
    const taken = moves.filter((move) => move.kind === 'take').map((move) => move.leaseKey);
    // A vanished owner is gone: its leases are taken at once, not left to a drain command nobody
    // answers while workers that hear the leader wait for its plan.
    expect(moves.filter((move) => move.leaseKey >= 'shardId-000000000012').map((move) => move.kind)).toContain('take');
    expect(new Set(taken)).toEqual(new Set(['shardId-000000000012', 'shardId-000000000013']));
  });
});

describe('releaseLease after a drain', () => {
  it('does not transfer the lease to a drain target this worker knows is no longer live', async () => {
    const transfers: string[] = [];
    const store = {
      transferLease: async (_ownership: unknown, to: string) => {
        transfers.push(to);
        return { status: 'applied' as const, value: testLease({ leaseOwner: to }) };
      },
      getLease: async () => testLease({ leaseOwner: 'worker-a', leaseCounter: 3 }),
      releaseLease: async () => ({ status: 'applied' as const, value: testLease() }),
    } as unknown as LeaseStore;
    const ownership = { namespace: 'app/stream', leaseKey: 'shardId-000000000001', leaseOwner: 'worker-a', leaseCounter: 3 };
    // The target was chosen when the drain began (leader's command or the shutdown plan); the
    // drain took up to drainTimeoutMs, and meanwhile the target died or was revoked.
    const { outcome, to } = await releaseLease(store, { ownership, handoffTo: 'worker-dead' }, async (id) => id !== 'worker-dead');
    // Released to anyone instead of transferred to the dead worker, so it does not wait for the
    // 15 s ownership rule.
    expect({ outcome, to, transfers }).toEqual({ outcome: 'released', to: undefined, transfers: [] });
  });
});
