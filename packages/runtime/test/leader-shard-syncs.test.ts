import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { CoordinationBus, FleetEvent, LeaseStore } from '@shoal/coordinator';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { FleetOptions } from '../src/fleet/fleet-options.js';
import type { FleetParts } from '../src/fleet/fleet-parts.js';
import { LeaseCoordinator } from '../src/fleet/lease-coordinator.js';
import { WorkerLiveness } from '../src/fleet/liveness/worker-liveness.js';
import { quietHost, silentBus, singleStream } from './fakes/fleet.js';
import { resolveWorkerOptions } from '../src/worker/worker-options.js';
import { testLease } from './fakes/records.js';
import { LaggingTable, handClock, settle } from './fakes/lagging-table.js';

/**
 * With a bus, only the leader creates the children of a shard that ended, when a member's
 * unsigned `shard-ended` reaches it.
 */
const NS = 'app/stream';
const PARENT = 'shardId-000000000000';
const CHILDREN = ['shardId-000000000001', 'shardId-000000000002'];

const options: FleetOptions = {
  applicationName: 'app',
  streamRefreshIntervalMs: 60_000,
  initialPosition: { type: 'TRIM_HORIZON' },
  leaseDurationMs: 15_000,
  heartbeatIntervalMs: 5_000,
  leaseSyncIntervalMs: 1_000,
  shardSyncIntervalMs: 60_000,
  maxLeasesPerWorker: undefined,
  drainTimeoutMs: 10_000,
  leaseCleanupDelayMs: 60_000,
  loadReportIntervalMs: 5_000,
  kinesisRequestTimeoutMs: 5_000,
  workerLoadStore: undefined,
  // The defaults, as a worker resolves them.
  coordination: resolveWorkerOptions({ applicationName: 'app', streamName: 'stream', processorFactory: () => ({}) as never }).coordination,
};

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** The leader's lease coordinator, elected, with ListShards answering as `listShards` says. */
function leaderCoordinator(listShards: () => Promise<unknown>) {
  const table = new LaggingTable();
  table.leases.set(
    PARENT,
    testLease({ namespace: NS, shardId: PARENT, leaseOwner: undefined, leaseCounter: 3, checkpoint: { type: 'SHARD_END' } }),
  );
  let deliver: ((event: FleetEvent) => void) | undefined;
  const bus: CoordinationBus = silentBus({
    onEvent: (handler) => {
      deliver = handler;
      return () => {};
    },
  });
  const { clock } = handClock();
  const coordinator = new LeaseCoordinator({
    store: table as unknown as LeaseStore,
    kinesis: { send: listShards } as unknown as KinesisClient,
    namespace: NS,
    streams: singleStream(),
    workerId: 'leader',
    host: quietHost(),
    liveness: new WorkerLiveness(10_000, clock),
    bus,
    options,
    clock,
    logger: pino({ level: 'silent' }),
  });
  const fleet = (coordinator as unknown as { fleet: FleetParts }).fleet;
  fleet.member.start();
  fleet.leader.elected({ namespace: NS, leaderId: 'leader', term: 3, heartbeat: 0 }, undefined);
  cleanups.push(() => fleet.leader.deposed());
  return { table, deliver: (event: FleetEvent) => deliver!(event) };
}

const childShards = {
  Shards: CHILDREN.map((ShardId) => ({
    ShardId,
    ParentShardId: PARENT,
    HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' },
    SequenceNumberRange: { StartingSequenceNumber: '1' },
  })),
};

describe('children of a shard a member finished', () => {
  it('the leader creates them at once when the member says so', async () => {
    const { table, deliver } = leaderCoordinator(async () => childShards);
    deliver({ type: 'shard-ended', leaseKey: PARENT, shardId: PARENT, from: 'worker-b' });
    await settle();
    expect(table.created).toEqual(CHILDREN);
  });

  it('one failed ListShards (a timeout) is tried again a second later', async () => {
    let calls = 0;
    const { table, deliver } = leaderCoordinator(async () => {
      calls += 1;
      if (calls === 1) throw Object.assign(new Error('Kinesis ListShards timed out after 5000 ms'), { name: 'TimeoutError' });
      return childShards;
    });
    deliver({ type: 'shard-ended', leaseKey: PARENT, shardId: PARENT, from: 'worker-b' });
    // The member that finished the parent hears the leader, so it created nothing itself and will
    // not say it again; nothing on the leader retries before its periodic shard sync.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(table.created).toEqual(CHILDREN);
  });
});
