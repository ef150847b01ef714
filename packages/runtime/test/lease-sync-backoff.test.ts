import { pino } from 'pino';
import type { Lease, NamespaceSnapshot, OwnedLeaseRef, WorkerRecord } from '@shoal/coordinator';
import { describe, expect, it } from 'vitest';
import type { FleetParts } from '../src/fleet/fleet-parts.js';
import type { HostedLease } from '../src/leases/lease-host.js';
import { leaseSyncOn, manualClock, recordingHost, workerRecord } from './fakes/fleet.js';
import { testLease } from './fakes/records.js';

/** A lease table whose namespace reads can be made to fail, as a table too busy to answer does. */
class BusyTable {
  namespaceReads = 0;
  failingReads = false;
  leases = new Map<string, Lease>();
  workers = new Map<string, WorkerRecord>();
  async readNamespace(): Promise<NamespaceSnapshot> {
    this.namespaceReads += 1;
    if (this.failingReads) throw new Error('DynamoDB Query got no answer within 2000 ms');
    return { leases: [...this.leases.values()], workers: [...this.workers.values()], leadership: undefined };
  }
  async listOwnedLeases(): Promise<readonly OwnedLeaseRef[] | undefined> {
    return [];
  }
  async getLease(_namespace: string, leaseKey: string): Promise<Lease | undefined> {
    return this.leases.get(leaseKey);
  }
  async getWorker(_namespace: string, workerId: string): Promise<WorkerRecord | undefined> {
    return this.workers.get(workerId);
  }
}

/** A namespace of `leases` leases and `workers` workers, `worker-a` among them. */
function filled(leases: number, workers: number): BusyTable {
  const table = new BusyTable();
  for (let n = 0; n < leases; n += 1) {
    const lease = testLease({ shardId: `shardId-${String(n).padStart(12, '0')}`, leaseOwner: `worker-${n % workers}`, leaseCounter: 1 });
    table.leases.set(lease.leaseKey, lease);
  }
  for (let n = 0; n < workers - 1; n += 1) table.workers.set(`worker-${n}`, workerRecord(`worker-${n}`));
  table.workers.set('worker-a', workerRecord('worker-a'));
  return table;
}

/** `worker-a`'s lease sync with a bus but no grant (it reads for itself) until `place` says it leads. */
function syncOf(table: BusyTable, { hosted = new Map<string, HostedLease>(), connected = (): boolean => true } = {}) {
  const { clock, advance } = manualClock();
  const { host } = recordingHost(hosted);
  const place = { leading: false };
  const sync = leaseSyncOn(table, {
    host,
    clock,
    mayTakeLeases: () => false,
    hearsLeader: () => false,
    leaderFullSyncIntervalMs: 5_000,
    ownLeaseCheckIntervalMs: 30_000,
    logger: pino({ level: 'silent' }),
  });
  sync.attachFleet({
    bus: { isConnected: connected },
    leader: { isLeading: () => place.leading, observe: () => {}, isAlive: () => true },
    election: { observe: async () => {}, recheck: async () => {}, liveLeaderId: () => undefined },
    member: { expectsHandoff: () => false, forgetExpiredHandoffs: () => {} },
    directory: { observe: () => {} },
  } as unknown as FleetParts);
  let second = 0;
  /** One lease sync a second for `seconds` (failures are the worker loop's to log); the seconds at which the namespace was read. */
  const runFor = async (seconds: number): Promise<number[]> => {
    const readAt: number[] = [];
    for (let n = 0; n < seconds; n += 1) {
      const before = table.namespaceReads;
      await sync.sync().catch(() => undefined);
      if (table.namespaceReads > before) readAt.push(second);
      advance(1_000);
      second += 1;
    }
    return readAt;
  };
  /** Runs until `count` namespace reads failed in a row (bounded). */
  const failReads = async (count: number) => {
    table.failingReads = true;
    let failed = 0;
    for (let guard = 0; failed < count && guard < 2_000; guard += 1) failed += (await runFor(1)).length;
    expect(failed).toBe(count);
  };
  return { sync, place, runFor, failReads, now: () => second };
}

describe('namespace reads of a large fleet whose table stopped answering', () => {
  it('wait the larger of the backoff and the fleet’s spacing, never the two multiplied', async () => {
    // 4,101 rows × 100 workers: one read every 20.5 s; six failures make a backoff of 32 s.
    const table = filled(4_000, 100);
    const { runFor, failReads, now } = syncOf(table);
    await runFor(12);
    await failReads(6);
    table.failingReads = false;
    const recoveredAt = now();
    const [firstRead] = await runFor(120);
    expect(firstRead! - recoveredAt).toBeLessThanOrEqual(33);
  });

  it('are on the leader’s schedule once the worker is elected, not on the one it backed off to', async () => {
    const table = filled(4_000, 100);
    const { sync, place, runFor, failReads, now } = syncOf(table);
    await runFor(12);
    await failReads(6);
    // Elected while the table is still overloaded: the read its election asks for fails too.
    place.leading = true;
    await sync.refresh().catch(() => undefined);
    table.failingReads = false;
    const electedAt = now();
    const [firstRead] = await runFor(60);
    expect(firstRead! - electedAt).toBeLessThanOrEqual(5);
  });
});

describe('the first 10 s without a grant', () => {
  it('count from the worker’s start: a worker whose bus connects late reads the namespace on', async () => {
    const table = filled(10, 3);
    const ownership = { namespace: 'app/stream', leaseKey: 'shardId-000000000001', leaseOwner: 'worker-a', leaseCounter: 1 };
    const hosted = new Map<string, HostedLease>([['shardId-000000000001', { state: 'owned', ownership }]]);
    let connected = false;
    const { runFor } = syncOf(table, { hosted, connected: () => connected });
    expect(await runFor(30)).toHaveLength(30);
    // NATS comes up 30 s after the start, with no leader to grant anything.
    connected = true;
    expect(await runFor(10)).toHaveLength(10);
  });
});
