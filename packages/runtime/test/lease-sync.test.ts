import type { ConditionalWriteResult, Lease, NamespaceSnapshot } from '@shoal/coordinator';
import { describe, expect, it, vi } from 'vitest';
import type { FleetParts } from '../src/fleet/fleet-parts.js';
import type { HostedLease } from '../src/leases/lease-host.js';
import { leaseSyncOn, manualClock, recordingHost, workerRecord } from './fakes/fleet.js';
import { testLease } from './fakes/records.js';

/** A namespace read the test answers when it chooses, so two reads can return out of order. */
class ControlledReads {
  readonly pending: ((snapshot: NamespaceSnapshot) => void)[] = [];
  readNamespace(): Promise<NamespaceSnapshot> {
    return new Promise((resolve) => this.pending.push(resolve));
  }
  /** The point read that confirms a lease a namespace read lacks: deleted. */
  async getLease(): Promise<Lease | undefined> {
    return undefined;
  }
}

function snapshotOf(lease: Lease): NamespaceSnapshot {
  return {
    leases: [lease],
    workers: [
      {
        namespace: lease.namespace,
        workerId: 'worker-a',
        heartbeat: 1,
        status: 'active',
        liveness: 'table',
        grantTerm: undefined,
        startedAt: 0,
        host: undefined,
      },
    ],
    leadership: undefined,
  };
}

describe('LeaseSync', () => {
  it('never applies an older read after a newer one: a sync asked for while another runs starts after it', async () => {
    const owned = testLease({ leaseOwner: 'worker-a', leaseCounter: 7 });
    const ownership = { namespace: owned.namespace, leaseKey: owned.leaseKey, leaseOwner: 'worker-a', leaseCounter: 7 };
    const { host, sent } = recordingHost(new Map([[owned.leaseKey, { state: 'owned', ownership }]]));
    const reads = new ControlledReads();
    const sync = leaseSyncOn(reads, { namespace: owned.namespace, host, leaseDurationMs: 10_000 });
    const first = sync.sync();
    const second = sync.sync();
    const third = sync.sync();
    // Only one read at a time: the second starts once the first was applied (and the third joins it).
    expect(reads.pending).toHaveLength(1);
    reads.pending[0]!({ leases: [], workers: [], leadership: undefined });
    await first;
    await vi.waitFor(() => expect(reads.pending).toHaveLength(2));
    reads.pending[1]!(snapshotOf(owned));
    await Promise.all([second, third]);
    expect(reads.pending).toHaveLength(2);
    // The first read (lease gone) was applied first; the newer one (lease still here) last.
    expect(sent.map((entry) => entry.event.type)).toEqual(['LEASE.LOST']);
  });
});

describe('LeaseSync without the leader’s ear', () => {
  function twoLeasesOf(owner: string): Lease[] {
    return [0, 1].map((i) => testLease({ shardId: `shardId-00000000000${i}`, leaseOwner: owner, leaseCounter: 3 }));
  }
  const record = (workerId: string) => workerRecord(workerId);
  const leadership = { namespace: 'app/stream', leaderId: 'leader', term: 2, heartbeat: 5 };

  async function afterOwnerVanished(hearsLeader: boolean) {
    const { host, started } = recordingHost(new Map());
    const reads = new ControlledReads();
    const sync = leaseSyncOn(reads, { host, leaseDurationMs: 60_000, mayTakeLeases: () => true, hearsLeader: () => hearsLeader });
    // A worker with a bus, not leading: the leader plans unless this worker cannot hear it.
    sync.attachFleet({
      bus: { isConnected: () => true },
      leader: { isLeading: () => false, observe: () => {} },
      election: { observe: async () => {} },
      member: { expectsHandoff: () => false, forgetExpiredHandoffs: () => {} },
      directory: { observe: () => {} },
    } as unknown as FleetParts);
    // Full reads whatever its place (a worker that hears the leader reads the namespace only when asked).
    const first = sync.refresh();
    reads.pending[0]!({ leases: twoLeasesOf('dead'), workers: [record('worker-a'), record('leader'), record('dead')], leadership });
    await first;
    // The leader revoked `dead` (its record is gone); its plan did not reach this worker.
    const second = sync.refresh();
    reads.pending[1]!({ leases: twoLeasesOf('dead'), workers: [record('worker-a'), record('leader')], leadership });
    await second;
    return started;
  }

  it('takes its share of a vanished owner’s leases itself when it holds no grant of the current leader', async () => {
    // One of the two (the planner gives the other to the leader).
    expect(await afterOwnerVanished(false)).toEqual([{ leaseKey: expect.stringMatching(/^shardId-00000000000[01]$/), mode: 'acquire' }]);
  });

  it('takes a vanished owner’s lease it was waiting on for a handoff, instead of waiting for the handoff', async () => {
    const { host, sent } = recordingHost(new Map());
    const waiting = new Map<string, HostedLease>();
    host.hostedLeases = () => waiting;
    const reads = new ControlledReads();
    const sync = leaseSyncOn(reads, { host, leaseDurationMs: 60_000, mayTakeLeases: () => true, hearsLeader: () => false });
    // It asked `dead` to hand both over (the rows name it as pending owner); `dead` died before it could.
    const leases = twoLeasesOf('dead').map((lease) => ({ ...lease, pendingOwner: 'worker-a' }));
    for (const lease of leases) waiting.set(lease.leaseKey, { state: 'pending', ownership: undefined });
    const first = sync.sync();
    reads.pending[0]!({ leases, workers: [record('worker-a'), record('dead')], leadership: undefined });
    await first;
    expect(sent).toEqual([]);
    const second = sync.sync();
    reads.pending[1]!({ leases, workers: [record('worker-a')], leadership: undefined });
    await second;
    expect(sent.map((entry) => `${entry.leaseKey}:${entry.event.type}`).sort()).toEqual(
      leases.map((lease) => `${lease.leaseKey}:LEASE.TAKE`).sort(),
    );
  });

  it('leaves them to the leader’s plan while it hears the leader (until they stay free for long)', async () => {
    expect(await afterOwnerVanished(true)).toEqual([]);
  });
});

describe('LeaseSync judging table-mode workers', () => {
  it('takes no lease from an owner whose removal as dead failed because its heartbeat moved (a read handled late)', async () => {
    const { clock, advance } = manualClock();
    const lease: Lease = testLease({ leaseOwner: 'worker-b', leaseCounter: 4 });
    const { host, started } = recordingHost(new Map());
    const snapshot = (heartbeat: number): NamespaceSnapshot => ({
      leases: [lease],
      workers: [workerRecord('worker-a', { liveness: 'table', heartbeat: 50 }), workerRecord('worker-b', { liveness: 'table', heartbeat })],
      leadership: undefined,
    });
    const removals: ConditionalWriteResult<void>[] = [];
    const store = {
      reads: [snapshot(7), snapshot(7)],
      readNamespace(): Promise<NamespaceSnapshot> {
        return Promise.resolve(this.reads.shift()!);
      },
      // worker-b heartbeated all along: a removal conditioned on 7 fails.
      async removeDeadWorker(): Promise<ConditionalWriteResult<void>> {
        removals.push({ status: 'conflict' });
        return { status: 'conflict' };
      },
    };
    const sync = leaseSyncOn(store, { host, clock, leaseDurationMs: 15_000, mayTakeLeases: () => true });
    await sync.sync();
    // Paused right after DynamoDB served the next read (still heartbeat 7), it handles it 16 s later.
    advance(16_000);
    await sync.sync();
    expect(removals).toEqual([{ status: 'conflict' }]);
    expect(started).toEqual([]);
  });

  it('takes the leases of an owner once its removal applied', async () => {
    const { clock, advance } = manualClock();
    const lease: Lease = testLease({ leaseOwner: 'worker-b', leaseCounter: 4 });
    const { host, started } = recordingHost(new Map());
    const snapshot: NamespaceSnapshot = {
      leases: [lease],
      workers: [
        workerRecord('worker-a', { liveness: 'table', heartbeat: 50 }),
        workerRecord('worker-b', { liveness: 'table', heartbeat: 7 }),
      ],
      leadership: undefined,
    };
    const store = {
      readNamespace: async () => snapshot,
      removeDeadWorker: async (): Promise<ConditionalWriteResult<void>> => ({ status: 'applied', value: undefined }),
    };
    const sync = leaseSyncOn(store, { host, clock, leaseDurationMs: 15_000, mayTakeLeases: () => true });
    await sync.sync();
    advance(16_000);
    await sync.sync();
    expect(started).toEqual([{ leaseKey: lease.leaseKey, mode: 'acquire' }]);
  });
});

describe('LeaseSync of a worker that just joined', () => {
  it('leaves everything to a live leader while its first grant is on its way (reading nothing), then asks for handoffs itself', async () => {
    const { clock, advance } = manualClock();
    const { host, started } = recordingHost(new Map());
    const leases = [0, 1, 2].map((i) => testLease({ shardId: `shardId-00000000000${i}`, leaseOwner: 'worker-b', leaseCounter: 3 }));
    const snapshot: NamespaceSnapshot = {
      leases,
      workers: [workerRecord('worker-a'), workerRecord('worker-b'), workerRecord('leader')],
      leadership: { namespace: 'app/stream', leaderId: 'leader', term: 2, heartbeat: 5 },
    };
    const sync = leaseSyncOn({ readNamespace: async () => snapshot }, { host, clock, mayTakeLeases: () => true, joinGraceMs: 1_500 });
    sync.attachFleet({
      bus: { isConnected: () => true },
      leader: { isLeading: () => false, observe: () => {} },
      election: { observe: async () => {}, liveLeaderId: () => 'leader' },
      member: { expectsHandoff: () => false, forgetExpiredHandoffs: () => {} },
      directory: { observe: () => {} },
    } as unknown as FleetParts);
    await sync.sync();
    expect(started).toEqual([]);
    advance(5_000);
    await sync.sync();
    expect(started).toEqual([]);
    // No grant came for 10 s (the leader is cut off from it): it balances through the table after all.
    advance(5_000);
    await sync.sync();
    expect(started).toEqual([{ leaseKey: expect.stringMatching(/^shardId-00000000000[012]$/), mode: 'request-handoff' }]);
  });
});
