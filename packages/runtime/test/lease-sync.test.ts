import type { Lease, LeaseStore, NamespaceSnapshot } from '@shoal/coordinator';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { FleetParts } from '../src/fleet/fleet-parts.js';
import { LeaseSync } from '../src/fleet/lease-sync/lease-sync.js';
import type { HostedLease, LeaseHost } from '../src/leases/lease-host.js';
import type { LeaseMachineEvent } from '../src/machines/lease-machine.js';
import { RecordingClock } from './fakes/fake-clock.js';
import { testLease } from './fakes/records.js';

/** A namespace read the test answers when it chooses, so two reads can return out of order. */
class ControlledReads {
  readonly pending: ((snapshot: NamespaceSnapshot) => void)[] = [];
  readNamespace(): Promise<NamespaceSnapshot> {
    return new Promise((resolve) => this.pending.push(resolve));
  }
}

function hostWith(hosted: Map<string, HostedLease>) {
  const sent: { leaseKey: string; event: LeaseMachineEvent }[] = [];
  const started: { leaseKey: string; mode: string }[] = [];
  const host: LeaseHost = {
    hostedLeases: () => hosted,
    relinquishedEpoch: () => undefined,
    forgetRelinquishedExcept: () => {},
    startLease: (lease, mode) => void started.push({ leaseKey: lease.leaseKey, mode }),
    sendToLease: (leaseKey, event) => void sent.push({ leaseKey, event }),
    fenced: () => {},
  };
  return { host, sent, started };
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
  it('drops a read that returns after a newer one was applied', async () => {
    const owned = testLease({ leaseOwner: 'worker-a', leaseCounter: 7 });
    const { host, sent } = hostWith(
      new Map([
        [
          owned.leaseKey,
          { state: 'owned', ownership: { namespace: owned.namespace, leaseKey: owned.leaseKey, leaseOwner: 'worker-a', leaseCounter: 7 } },
        ],
      ]),
    );
    const reads = new ControlledReads();
    const sync = new LeaseSync({
      store: reads as unknown as LeaseStore,
      namespace: owned.namespace,
      workerId: 'worker-a',
      host,
      leaseDurationMs: 10_000,
      leaseSyncIntervalMs: 1_000,
      maxLeasesPerWorker: undefined,
      mayTakeLeases: () => false,
      hearsLeader: () => false,
      clock: new RecordingClock(),
      logger: pino({ level: 'silent' }),
    });
    const older = sync.sync();
    const newer = sync.sync();
    // The newer read shows the lease as it is; the older one (started first, answered last)
    // would show a state from before: here, the lease deleted.
    reads.pending[1]!(snapshotOf(owned));
    await newer;
    reads.pending[0]!({ leases: [], workers: [], leadership: undefined });
    await older;
    expect(sent).toEqual([]);
  });
});

describe('LeaseSync without the leader’s ear', () => {
  function twoLeasesOf(owner: string): Lease[] {
    return [0, 1].map((i) => testLease({ shardId: `shardId-00000000000${i}`, leaseOwner: owner, leaseCounter: 3 }));
  }
  const record = (workerId: string): NamespaceSnapshot['workers'][number] => ({
    namespace: 'app/stream',
    workerId,
    heartbeat: 1,
    status: 'active',
    liveness: 'nats',
    grantTerm: 2,
    startedAt: 0,
    host: undefined,
  });
  const leadership = { namespace: 'app/stream', leaderId: 'leader', term: 2, heartbeat: 5 };

  async function afterOwnerVanished(hearsLeader: boolean) {
    const { host, started } = hostWith(new Map());
    const reads = new ControlledReads();
    const sync = new LeaseSync({
      store: reads as unknown as LeaseStore,
      namespace: 'app/stream',
      workerId: 'worker-a',
      host,
      leaseDurationMs: 60_000,
      leaseSyncIntervalMs: 1_000,
      maxLeasesPerWorker: undefined,
      mayTakeLeases: () => true,
      hearsLeader: () => hearsLeader,
      clock: new RecordingClock(),
      logger: pino({ level: 'silent' }),
    });
    // A worker with a bus, not leading: the leader plans unless this worker cannot hear it.
    sync.attachFleet({
      bus: { isConnected: () => true },
      leader: { isLeading: () => false, observe: () => {} },
      election: { observe: async () => {} },
      member: { expectsHandoff: () => false },
      directory: { observe: () => {} },
    } as unknown as FleetParts);
    const first = sync.sync();
    reads.pending[0]!({ leases: twoLeasesOf('dead'), workers: [record('worker-a'), record('leader'), record('dead')], leadership });
    await first;
    // The leader revoked `dead` (its record is gone); its plan did not reach this worker.
    const second = sync.sync();
    reads.pending[1]!({ leases: twoLeasesOf('dead'), workers: [record('worker-a'), record('leader')], leadership });
    await second;
    return started;
  }

  it('takes its share of a vanished owner’s leases itself when it holds no grant of the current leader', async () => {
    // One of the two (the planner gives the other to the leader).
    expect(await afterOwnerVanished(false)).toEqual([{ leaseKey: expect.stringMatching(/^shardId-00000000000[01]$/), mode: 'acquire' }]);
  });

  it('leaves them to the leader’s plan while it hears the leader (until they stay free for long)', async () => {
    expect(await afterOwnerVanished(true)).toEqual([]);
  });
});
