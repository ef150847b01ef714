import type {
  ConditionalWriteResult,
  Lease,
  LeadershipRecord,
  NamespaceSnapshot,
  NewLease,
  OwnedLeaseRef,
  WorkerRecord,
} from '@shoal/coordinator';
import { pino } from 'pino';
import type { Clock } from '../../src/clock.js';
import type { FleetParts } from '../../src/fleet/fleet-parts.js';
import type { LeaseSync } from '../../src/fleet/lease-sync/lease-sync.js';
import type { HostedLease, LeaseHost } from '../../src/leases/lease-host.js';
import type { LeaseMachineEvent } from '../../src/machines/lease-machine.js';
import { leaseSyncOn } from './fleet.js';

/**
 * A lease table whose rows are read consistently by point reads, whose
 * owner index can be made to lag behind the rows (DynamoDB GSIs are eventually consistent), and
 * whose conditional writes of worker records behave like the real ones.
 */
export class LaggingTable {
  readonly leases = new Map<string, Lease>();
  readonly workers = new Map<string, WorkerRecord>();
  leadership: LeadershipRecord | undefined;
  /** What the owner index shows now; `undefined`: it agrees with the rows. */
  laggingIndex: OwnedLeaseRef[] | undefined;
  /** The next index queries that time out (a slow DynamoDB). */
  failingIndexQueries = 0;
  namespaceReads = 0;
  indexQueries = 0;
  readonly leaseReads: string[] = [];
  readonly workerReads: string[] = [];
  readonly removedAsDead: string[] = [];

  /** What an eventually consistent namespace read shows of the leases, while a replica lags (point reads see the rows). */
  laggingLeases: Lease[] | undefined;

  async readNamespace(_namespace?: string, options?: { consistency: 'strong' | 'eventual' }): Promise<NamespaceSnapshot> {
    this.namespaceReads += 1;
    const lagging = options?.consistency === 'eventual' ? this.laggingLeases : undefined;
    return { leases: lagging ?? [...this.leases.values()], workers: [...this.workers.values()], leadership: this.leadership };
  }

  async listOwnedLeases(_namespace: string, owner: string): Promise<readonly OwnedLeaseRef[] | undefined> {
    this.indexQueries += 1;
    if (this.failingIndexQueries > 0) {
      this.failingIndexQueries -= 1;
      throw new Error('DynamoDB Query timed out after 2000 ms');
    }
    if (this.laggingIndex) return this.laggingIndex;
    return [...this.leases.values()]
      .filter((lease) => lease.leaseOwner === owner)
      .map((lease) => ({ leaseKey: lease.leaseKey, leaseCounter: lease.leaseCounter, pendingOwner: lease.pendingOwner }));
  }

  /** The next point reads of a lease that time out. */
  failingLeaseReads = 0;

  async getLease(_namespace: string, leaseKey: string): Promise<Lease | undefined> {
    this.leaseReads.push(leaseKey);
    if (this.failingLeaseReads > 0) {
      this.failingLeaseReads -= 1;
      throw new Error('DynamoDB GetItem timed out after 2000 ms');
    }
    return this.leases.get(leaseKey);
  }

  async getWorker(_namespace: string, workerId: string): Promise<WorkerRecord | undefined> {
    this.workerReads.push(workerId);
    return this.workers.get(workerId);
  }

  async getLeadership(): Promise<LeadershipRecord | undefined> {
    return this.leadership;
  }

  readonly created: string[] = [];

  async createLease(namespace: string, lease: NewLease): Promise<ConditionalWriteResult<Lease>> {
    if (this.leases.has(lease.shardId)) return { status: 'conflict' };
    const row: Lease = {
      namespace,
      leaseKey: lease.shardId,
      shardId: lease.shardId,
      streamName: undefined,
      leaseOwner: undefined,
      leaseCounter: 0,
      checkpoint: lease.checkpoint,
      parentShardIds: lease.parentShardIds ?? [],
      childShardIds: [],
      hashKeyRange: lease.hashKeyRange,
      pendingOwner: undefined,
      checkpointedAt: undefined,
    };
    this.leases.set(lease.shardId, row);
    this.created.push(lease.shardId);
    return { status: 'applied', value: row };
  }

  /** As `removeDeadWorker` in worker-record-writes: heartbeat as observed AND liveness table. */
  async removeDeadWorker(_namespace: string, workerId: string, observedHeartbeat: number): Promise<ConditionalWriteResult<void>> {
    const record = this.workers.get(workerId);
    if (!record || record.heartbeat !== observedHeartbeat || (record.liveness ?? 'table') !== 'table') return { status: 'conflict' };
    this.workers.delete(workerId);
    this.removedAsDead.push(workerId);
    return { status: 'applied', value: undefined };
  }
}

/**
 * A lease host for `workerId` that hosts what it starts (an acquire applies at once, in the table
 * too, as the lease machine's conditional write would) and records what it was told.
 */
export function trackingHost(table: LaggingTable, workerId = 'worker-a') {
  const hosted = new Map<string, HostedLease>();
  const started: { leaseKey: string; mode: string; leaseCounter: number }[] = [];
  const sent: { leaseKey: string; event: LeaseMachineEvent }[] = [];
  const relinquished = new Map<string, number>();
  let forgetCalls = 0;
  const host: LeaseHost = {
    hostedLeases: () => hosted,
    hostedLease: (leaseKey) => hosted.get(leaseKey),
    relinquishedEpoch: (leaseKey) => relinquished.get(leaseKey),
    forgetRelinquishedExcept: (keep) => {
      forgetCalls += 1;
      for (const leaseKey of [...relinquished.keys()]) if (!keep.has(leaseKey)) relinquished.delete(leaseKey);
    },
    startLease: (lease, mode) => {
      started.push({ leaseKey: lease.leaseKey, mode, leaseCounter: lease.leaseCounter });
      let counter = lease.leaseCounter;
      if (mode === 'acquire') {
        const row = table.leases.get(lease.leaseKey);
        if (!row || row.leaseOwner !== lease.leaseOwner || row.leaseCounter !== lease.leaseCounter) return;
        counter = lease.leaseCounter + 1;
        table.leases.set(lease.leaseKey, { ...row, leaseOwner: workerId, leaseCounter: counter, pendingOwner: undefined });
      }
      if (mode === 'request-handoff') return;
      hosted.set(lease.leaseKey, {
        state: 'owned',
        ownership: { namespace: lease.namespace, leaseKey: lease.leaseKey, leaseOwner: workerId, leaseCounter: counter },
      });
    },
    sendToLease: (leaseKey, event) => void sent.push({ leaseKey, event }),
    fenced: () => {},
  };
  return { host, hosted, started, sent, relinquished, forgetCalls: () => forgetCalls };
}

/** Clocks the test moves by hand (wall time runs with the monotonic clock). */
export function handClock() {
  let now = 0;
  const clock: Clock = { now: () => 1_700_000_000_000 + now, monotonic: () => now, sleep: async () => {} };
  return { clock, now: () => now, advance: (ms: number) => void (now += ms), set: (ms: number) => void (now = ms) };
}

export interface SyncPlace {
  hears: boolean;
  leading: boolean;
}

/**
 * The lease sync of `worker-a` with a bus; `place` says whether it hears the leader (holds a
 * grant of the live leader) or leads, and can be changed while the test runs.
 */
export function fleetSync(
  table: LaggingTable,
  host: LeaseHost,
  clock: Clock,
  place: SyncPlace,
  member?: FleetParts['member'],
  overrides: Parameters<typeof leaseSyncOn>[1] = {},
): LeaseSync {
  const sync = leaseSyncOn(table, {
    host,
    clock,
    logger: pino({ level: 'silent' }),
    mayTakeLeases: () => true,
    hearsLeader: () => place.hears,
    joinGraceMs: 1_500,
    leaderFullSyncIntervalMs: 5_000,
    ownLeaseCheckIntervalMs: 30_000,
    ...overrides,
  });
  sync.attachFleet({
    bus: { isConnected: () => true },
    leader: { isLeading: () => place.leading, observe: () => {}, isAlive: () => true },
    election: { observe: async () => {}, liveLeaderId: () => 'leader' },
    member: member ?? { expectsHandoff: () => false, forgetExpiredHandoffs: () => {} },
    directory: { observe: () => {} },
  } as unknown as FleetParts);
  return sync;
}

/** Lets promises started by event handlers (reads of the fake table) run to their end. */
export async function settle(turns = 20): Promise<void> {
  for (let turn = 0; turn < turns; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}
