import { pino } from 'pino';
import type { Lease, NamespaceSnapshot, OwnedLeaseRef, WorkerRecord } from '@shoal/coordinator';
import { describe, expect, it } from 'vitest';
import type { FleetParts } from '../src/fleet/fleet-parts.js';
import type { HostedLease } from '../src/leases/lease-host.js';
import { leaseSyncOn, manualClock, recordingHost, workerRecord } from './fakes/fleet.js';
import { testLease } from './fakes/records.js';

/** A lease table that counts what is read from it: the namespace, the owner index, point reads. */
class CountingTable {
  namespaceReads = 0;
  indexQueries = 0;
  leaseReads: string[] = [];
  workerReads: string[] = [];
  leases = new Map<string, Lease>();
  workers = new Map<string, WorkerRecord>();
  /** What the owner index shows (eventually consistent: the test sets it apart from the rows). */
  index: OwnedLeaseRef[] | undefined = [];

  async readNamespace(): Promise<NamespaceSnapshot> {
    this.namespaceReads += 1;
    return { leases: [...this.leases.values()], workers: [...this.workers.values()], leadership: undefined };
  }
  async listOwnedLeases(): Promise<readonly OwnedLeaseRef[] | undefined> {
    this.indexQueries += 1;
    return this.index;
  }
  async getLease(_namespace: string, leaseKey: string): Promise<Lease | undefined> {
    this.leaseReads.push(leaseKey);
    return this.leases.get(leaseKey);
  }
  async getWorker(_namespace: string, workerId: string): Promise<WorkerRecord | undefined> {
    this.workerReads.push(workerId);
    return this.workers.get(workerId);
  }
}

type Place = 'leader' | 'member' | 'cut-off';

/** A lease sync of `worker-a` with a bus, in the given place in the fleet. */
function syncIn(place: Place, table: CountingTable, hosted = new Map<string, HostedLease>(), logger = pino({ level: 'silent' })) {
  const { clock, advance } = manualClock();
  const { host, sent, started } = recordingHost(hosted);
  const sync = leaseSyncOn(table, {
    host,
    clock,
    logger,
    mayTakeLeases: () => true,
    hearsLeader: () => place === 'member',
    leaderFullSyncIntervalMs: 5_000,
    ownLeaseCheckIntervalMs: 30_000,
  });
  sync.attachFleet({
    bus: { isConnected: () => true },
    leader: { isLeading: () => place === 'leader', observe: () => {}, isAlive: () => true },
    election: { observe: async () => {}, liveLeaderId: () => (place === 'cut-off' ? undefined : 'leader') },
    member: { expectsHandoff: () => false, forgetExpiredHandoffs: () => {} },
    directory: { observe: () => {} },
  } as unknown as FleetParts);
  /** One lease sync a second for `seconds`. */
  const runFor = async (seconds: number) => {
    for (let second = 0; second < seconds; second += 1) {
      await sync.sync();
      advance(1_000);
    }
  };
  return { sync, sent, started, runFor };
}

const owned = (leaseCounter: number, overrides: Partial<Lease> = {}) =>
  testLease({ shardId: 'shardId-000000000001', leaseOwner: 'worker-a', leaseCounter, ...overrides });
const ownership = (leaseCounter: number) => ({
  namespace: 'app/stream',
  leaseKey: 'shardId-000000000001',
  leaseOwner: 'worker-a',
  leaseCounter,
});

describe('what a lease sync reads, by the worker’s place in the fleet', () => {
  it('a worker that hears the leader reads no namespace, only its own leases every ownLeaseCheckIntervalMs', async () => {
    const table = new CountingTable();
    const { runFor } = syncIn('member', table);
    await runFor(90);
    expect(table.namespaceReads).toBe(0);
    expect(table.indexQueries).toBe(3);
  });

  it('the leader reads the whole namespace every leaderFullSyncIntervalMs, and at once when a fleet event asks', async () => {
    const table = new CountingTable();
    const { sync, runFor } = syncIn('leader', table);
    await runFor(30);
    expect(table.namespaceReads).toBe(6);
    await sync.refresh();
    expect(table.namespaceReads).toBe(7);
    expect(table.indexQueries).toBe(0);
  });

  it('a worker cut off from the leader reads the whole namespace every lease sync, as it must to coordinate through the table', async () => {
    const table = new CountingTable();
    const { runFor } = syncIn('cut-off', table);
    await runFor(10);
    expect(table.namespaceReads).toBe(10);
  });

  it('reads the namespace instead, and says so once, when the table has no owner index', async () => {
    const table = new CountingTable();
    table.index = undefined;
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
    const { runFor } = syncIn('member', table, new Map(), logger);
    await runFor(61);
    expect(table.namespaceReads).toBe(3);
    expect(warnings.filter((message) => message.includes('no owner index'))).toHaveLength(1);
  });
});

describe('a worker checking its own leases through the owner index', () => {
  it('acts only on what a consistent point read confirms: a lease the stale index leaves out is still its own', async () => {
    const table = new CountingTable();
    table.leases.set('shardId-000000000001', owned(4));
    table.index = [];
    const hosted = new Map<string, HostedLease>([['shardId-000000000001', { state: 'owned', ownership: ownership(4) }]]);
    const { runFor, sent } = syncIn('member', table, hosted);
    await runFor(1);
    expect(table.leaseReads).toEqual(['shardId-000000000001']);
    expect(sent).toEqual([]);
  });

  it('stops a lease another worker holds now', async () => {
    const table = new CountingTable();
    table.leases.set('shardId-000000000001', owned(5, { leaseOwner: 'worker-b' }));
    table.index = [];
    const hosted = new Map<string, HostedLease>([['shardId-000000000001', { state: 'owned', ownership: ownership(4) }]]);
    const { runFor, sent } = syncIn('member', table, hosted);
    await runFor(1);
    expect(sent.map((entry) => entry.event.type)).toEqual(['LEASE.LOST']);
  });

  it('drains a lease a live worker asked for, after reading the requester’s record', async () => {
    const table = new CountingTable();
    table.leases.set('shardId-000000000001', owned(4, { pendingOwner: 'worker-b' }));
    table.workers.set('worker-b', workerRecord('worker-b', { liveness: 'table' }));
    table.index = [{ leaseKey: 'shardId-000000000001', leaseCounter: 4, pendingOwner: 'worker-b' }];
    const hosted = new Map<string, HostedLease>([['shardId-000000000001', { state: 'owned', ownership: ownership(4) }]]);
    const { runFor, sent } = syncIn('member', table, hosted);
    await runFor(1);
    expect(table.workerReads).toEqual(['worker-b']);
    expect(sent).toEqual([{ leaseKey: 'shardId-000000000001', event: { type: 'DRAIN', reason: 'handoff', handoffTo: 'worker-b' } }]);
  });

  it('leaves a lease alone whose requester is not registered', async () => {
    const table = new CountingTable();
    table.leases.set('shardId-000000000001', owned(4, { pendingOwner: 'worker-gone' }));
    table.index = [{ leaseKey: 'shardId-000000000001', leaseCounter: 4, pendingOwner: 'worker-gone' }];
    const hosted = new Map<string, HostedLease>([['shardId-000000000001', { state: 'owned', ownership: ownership(4) }]]);
    const { runFor, sent } = syncIn('member', table, hosted);
    await runFor(1);
    expect(sent).toEqual([]);
  });

  it('starts a lease the index says it owns and nothing here runs, once a point read confirms it', async () => {
    const table = new CountingTable();
    table.leases.set('shardId-000000000001', owned(6));
    table.index = [{ leaseKey: 'shardId-000000000001', leaseCounter: 6, pendingOwner: undefined }];
    const { runFor, started } = syncIn('member', table);
    await runFor(1);
    expect(started).toEqual([{ leaseKey: 'shardId-000000000001', mode: 'acquire' }]);
  });

  it('reads nothing more when the index agrees with what it runs', async () => {
    const table = new CountingTable();
    table.leases.set('shardId-000000000001', owned(4));
    table.index = [{ leaseKey: 'shardId-000000000001', leaseCounter: 4, pendingOwner: undefined }];
    const hosted = new Map<string, HostedLease>([['shardId-000000000001', { state: 'owned', ownership: ownership(4) }]]);
    const { runFor, sent } = syncIn('member', table, hosted);
    await runFor(31);
    expect(table.indexQueries).toBe(2);
    expect(table.leaseReads).toEqual([]);
    expect(sent).toEqual([]);
  });
});
