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

  /** While set, every namespace read fails as a timed-out Query does. */
  failingReads = false;

  async readNamespace(): Promise<NamespaceSnapshot> {
    this.namespaceReads += 1;
    if (this.failingReads) throw new Error('DynamoDB Query got no answer within 2000 ms');
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
  const leadershipReads = { count: 0 };
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
    election: {
      observe: async () => {},
      recheck: async () => void (leadershipReads.count += 1),
      liveLeaderId: () => (place === 'cut-off' ? undefined : 'leader'),
    },
    member: { expectsHandoff: () => false, forgetExpiredHandoffs: () => {} },
    directory: { observe: () => {} },
  } as unknown as FleetParts);
  /** One lease sync a second for `seconds` (a failed one is logged by the worker's loop; here, ignored). */
  const runFor = async (seconds: number, { failuresExpected = false } = {}) => {
    for (let second = 0; second < seconds; second += 1) {
      if (failuresExpected) await sync.sync().catch(() => undefined);
      else await sync.sync();
      advance(1_000);
    }
  };
  return { sync, sent, started, runFor, leadershipReads };
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
    const hosted = new Map<string, HostedLease>([['shardId-000000000001', { state: 'owned', ownership: ownership(4) }]]);
    table.leases.set('shardId-000000000001', owned(4));
    const { runFor, leadershipReads } = syncIn('cut-off', table, hosted);
    // Past the first 10 s after its start (see below), with no leader to hear.
    await runFor(10);
    const [namespaceReads, leadershipRowReads] = [table.namespaceReads, leadershipReads.count];
    await runFor(10);
    expect(table.namespaceReads - namespaceReads).toBe(10);
    expect(leadershipReads.count - leadershipRowReads).toBe(0);
  });

  it('a large fleet cut off from the leader spaces its namespace reads so that together they stay within 20,000 rows a second', async () => {
    const table = new CountingTable();
    for (let n = 0; n < 1_000; n += 1) {
      const lease = testLease({ shardId: `shardId-${String(n).padStart(12, '0')}`, leaseOwner: `worker-${n % 100}`, leaseCounter: 1 });
      table.leases.set(lease.leaseKey, lease);
    }
    for (let n = 0; n < 99; n += 1) table.workers.set(`worker-${n}`, workerRecord(`worker-${n}`));
    table.workers.set('worker-a', workerRecord('worker-a'));
    table.leases.set('shardId-000000000001', owned(4));
    const hosted = new Map<string, HostedLease>([['shardId-000000000001', { state: 'owned', ownership: ownership(4) }]]);
    const { runFor } = syncIn('cut-off', table, hosted);
    await runFor(11);
    const before = table.namespaceReads;
    // 1,101 rows × 100 workers reading: one read every 5.5 s (± a quarter), not every second.
    await runFor(66);
    expect(table.namespaceReads - before).toBeGreaterThanOrEqual(9);
    expect(table.namespaceReads - before).toBeLessThanOrEqual(16);
  });

  it('a worker whose namespace reads fail backs off to one read in 16 to 32 s, and reads again once the table answers', async () => {
    const table = new CountingTable();
    table.leases.set('shardId-000000000001', owned(4));
    const hosted = new Map<string, HostedLease>([['shardId-000000000001', { state: 'owned', ownership: ownership(4) }]]);
    const { runFor } = syncIn('cut-off', table, hosted);
    await runFor(10);
    table.failingReads = true;
    const before = table.namespaceReads;
    // A table too busy to answer: each read that times out still cost it the whole namespace.
    await runFor(120, { failuresExpected: true });
    expect(table.namespaceReads - before).toBeGreaterThanOrEqual(7);
    expect(table.namespaceReads - before).toBeLessThanOrEqual(13);
    table.failingReads = false;
    const whileFailing = table.namespaceReads;
    await runFor(33, { failuresExpected: true });
    expect(table.namespaceReads - whileFailing).toBeGreaterThanOrEqual(1);
    // One success ends the wait: every lease sync reads again.
    const afterSuccess = table.namespaceReads;
    await runFor(5);
    expect(table.namespaceReads - afterSuccess).toBe(5);
  });

  it('a worker starting with no leader known reads only the leadership row (claiming it if free) for 10 s, then the namespace', async () => {
    const table = new CountingTable();
    const { runFor, leadershipReads } = syncIn('cut-off', table);
    // A fleet starting together on a table the leader is filling: nobody reads it whole meanwhile.
    await runFor(10);
    expect(table.namespaceReads).toBe(0);
    expect(leadershipReads.count).toBe(10);
    // No leader came forward and no grant came: it coordinates through the table on its own.
    await runFor(5);
    expect(table.namespaceReads).toBe(5);
    expect(leadershipReads.count).toBe(10);
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
