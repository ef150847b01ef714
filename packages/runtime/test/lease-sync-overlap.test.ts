import { LivenessGrants, signed, type NamespaceSnapshot, type WorkerRecord } from '@shoal/coordinator';
import { describe, expect, it, vi } from 'vitest';
import type { Clock } from '../src/clock.js';
import type { FleetParts } from '../src/fleet/fleet-parts.js';
import { leaseSyncOn, workerRecord } from './fakes/fleet.js';

const worker = (workerId: string, liveness: 'table' | 'nats', heartbeat = 1, grantTerm?: number): WorkerRecord =>
  workerRecord(workerId, { liveness, heartbeat, grantTerm });

/** Reads and dead-worker removals the test answers when it chooses. */
class ControlledTable {
  readonly reads: ((snapshot: NamespaceSnapshot) => void)[] = [];
  readonly removals: ((result: { status: 'applied' }) => void)[] = [];
  readNamespace(): Promise<NamespaceSnapshot> {
    return new Promise((resolve) => this.reads.push(resolve));
  }
  removeDeadWorker(): Promise<{ status: 'applied' }> {
    return new Promise((resolve) => this.removals.push(resolve));
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('a namespace read overtaken by a newer one', () => {
  it('is never handed to the leader after the newer one, even when its own sync is slow to finish', async () => {
    let now = 0;
    const clock: Clock = { now: () => 1_700_000_000_000 + now, monotonic: () => now, sleep: async () => {} };
    const table = new ControlledTable();
    const seenByLeader: string[][] = [];
    const sync = leaseSyncOn(table, { workerId: 'leader', clock });
    sync.attachFleet({
      bus: { isConnected: () => true },
      leader: {
        isLeading: () => true,
        isAlive: () => true,
        observe: (s: NamespaceSnapshot) => void seenByLeader.push(s.workers.map((w) => w.workerId)),
      },
      election: { observe: async () => {} },
      member: { expectsHandoff: () => false, forgetExpiredHandoffs: () => {} },
      directory: { observe: () => {} },
    } as unknown as FleetParts);

    // A table-mode worker `dead` (registered, then crashed before it ever switched to nats).
    const first = sync.sync();
    table.reads[0]!({ leases: [], workers: [worker('leader', 'nats', 1, 7), worker('dead', 'table')], leadership: undefined });
    await first;
    now = 16_000;
    // The periodic sync reads: `dead` is dead; removing it is a DynamoDB write that is slow today.
    const older = sync.sync();
    table.reads[1]!({ leases: [], workers: [worker('leader', 'nats', 1, 7), worker('dead', 'table')], leadership: undefined });
    await tick();
    expect(table.removals).toHaveLength(1);
    // Meanwhile `fresh` registers and joins; the leader's refresh asks for a read: it waits for
    // the slow sync to finish, so the older read can never be applied after it.
    const newer = sync.sync();
    await tick();
    expect(table.reads).toHaveLength(2);
    table.removals[0]!({ status: 'applied' });
    await older;
    await vi.waitFor(() => expect(table.reads).toHaveLength(3));
    table.reads[2]!({ leases: [], workers: [worker('leader', 'nats', 1, 7), worker('fresh', 'nats', 2, 7)], leadership: undefined });
    await newer;
    expect(seenByLeader.at(-1)).toEqual(['leader', 'fresh']);
  });

  it('(consequence) a worker dropped from the leader’s view by that read is revocable at once, its grant still running', () => {
    let now = 10_000;
    const grants = new LivenessGrants({ grantValidForMs: 1_500, revokeAfterMs: 2_000, monotonicNow: () => now });
    grants.startTerm({ namespace: 'app/stream', leaderId: 'leader', term: 7, heartbeat: 0 });
    now = 20_000;
    // `fresh` asks and is granted until 21,500 by its clock.
    expect(grants.grant(signed({ workerId: 'fresh', seq: 1 }, 'k'), 'k', 2_000)).toMatchObject({ granted: true });
    // The older read is observed: `fresh` is not listed, so its grant is forgotten (FleetLeader.observe → keepOnly).
    grants.keepOnly(new Set(['leader']));
    now = 20_100;
    // The next read lists `fresh` in nats mode on this term: its grant, younger than
    // revokeAfterMs, was kept, so it is not overdue while that grant runs.
    expect(grants.overdue([worker('fresh', 'nats', 2, 7)])).toEqual([]);
  });
});
