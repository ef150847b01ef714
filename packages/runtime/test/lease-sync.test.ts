import type { Lease, LeaseStore, NamespaceSnapshot } from '@shoal/coordinator';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
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
  const host: LeaseHost = {
    hostedLeases: () => hosted,
    relinquishedEpoch: () => undefined,
    forgetRelinquishedExcept: () => {},
    startLease: () => {},
    sendToLease: (leaseKey, event) => void sent.push({ leaseKey, event }),
    fenced: () => {},
  };
  return { host, sent };
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
