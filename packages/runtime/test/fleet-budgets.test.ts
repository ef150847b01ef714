import { type CoordinationBus, type LeaseStore } from '@shoal/coordinator';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FleetDirectory } from '../src/fleet/fleet-directory.js';
import { FleetMember } from '../src/fleet/member/fleet-member.js';
import { OpenBus, fleetLeaderWith, quietHost, workerRecord } from './fakes/fleet.js';
import { LaggingTable, fleetSync, handClock, settle, trackingHost, type SyncPlace } from './fakes/lagging-table.js';

/** Costs and stalls a forged prompt or a failing DynamoDB call must not cause without bound. */
const NS = 'app/stream';
const ME = 'worker-a';
const LEADER = 'worker-leader';
const silent = pino({ level: 'silent' });

function wiredMember(table: LaggingTable, host: ReturnType<typeof trackingHost>['host'], monotonicNow: () => number) {
  const bus = new OpenBus();
  const clock = { now: () => 1_700_000_000_000 + monotonicNow(), monotonic: monotonicNow, sleep: async () => {} };
  const directory = new FleetDirectory(table as unknown as LeaseStore, NS, clock);
  const hooks = { missed: (_leaseKey?: string) => {}, peerLeaving: () => {} };
  const member = new FleetMember({
    bus: bus as unknown as CoordinationBus,
    store: table as unknown as LeaseStore,
    namespace: NS,
    workerId: ME,
    host,
    directory,
    mayTakeLeases: () => true,
    onFleetChange: () => {},
    onRevoked: async () => {},
    onSuccession: () => {},
    onShardEnded: () => {},
    consumes: () => true,
    onUnknownStream: () => {},
    releaseUnconsumed: () => {},
    // As lease-coordinator.ts wires them.
    onHandoverMissed: (leaseKey) => hooks.missed(leaseKey),
    onPeerLeaving: () => hooks.peerLeaving(),
    onHandoffAsked: () => {},
    onToldLeaving: () => {},
    handoffExpectedForMs: 12_000,
    monotonicNow,
    logger: silent,
  });
  member.start();
  return { bus, member, hooks };
}

describe('forged lease-released announcements (unsigned) once the prompted-read budget is spent', () => {
  it('remember a bounded number of leases to read, and read a bounded number', async () => {
    const table = new LaggingTable();
    table.workers.set(LEADER, workerRecord(LEADER, { fleetKey: 'k', grantTerm: 3 }));
    table.leadership = { namespace: NS, leaderId: LEADER, term: 3, heartbeat: 1 };
    const { host } = trackingHost(table);
    const { clock, advance } = handClock();
    const place: SyncPlace = { hears: true, leading: false };
    const { bus, member, hooks } = wiredMember(table, host, clock.monotonic);
    const sync = fleetSync(table, host, clock, place, member);
    hooks.missed = (leaseKey) => sync.checkOwnLeasesSoon(leaseKey);
    await sync.sync();
    table.leaseReads.length = 0;

    // Anyone on NATS: 5,000 announcements "lease X was released to worker-a", X made up.
    for (let i = 0; i < 5_000; i += 1)
      bus.eventHandler!({ type: 'lease-released', leaseKey: `forged-${i}`, from: 'nobody', to: ME, leaseCounter: 1 });
    await settle();
    const remembered = (sync as unknown as { asked: { size: number } }).asked.size;
    for (let s = 0; s < 7; s += 1) {
      await sync.sync();
      advance(1_000);
    }
    // Bounded state and bounded reads are the guarantees (fleet-state-bounds does not look at
    // the schedule: LeaseSync.stateSizes() leaves it out).
    // At most 100 leases at once, and one owner-index check for the rest.
    expect(remembered).toBeLessThanOrEqual(101);
    expect(table.leaseReads.length).toBeLessThanOrEqual(100);
  });

  it('a point read that keeps failing is tried again a few times, then left to the periodic check', async () => {
    const table = new LaggingTable();
    const { host } = trackingHost(table);
    const { clock, advance } = handClock();
    const sync = fleetSync(table, host, clock, { hears: true, leading: false });
    await sync.sync();
    sync.checkOwnLeasesSoon('lease-x');
    table.leaseReads.length = 0;
    table.failingLeaseReads = 1_000_000; // DynamoDB rejects this read every time (throttled, or a key it refuses)
    for (let s = 0; s < 120; s += 1) {
      await sync.sync();
      advance(1_000);
    }
    // Two reads were asked for; a few retries would be reasonable, 120 in two minutes (and on for ever) is not.
    expect(table.leaseReads.filter((k) => k === 'lease-x').length).toBeLessThanOrEqual(10);
  });
});

describe('forged worker-leaving events (unsigned)', () => {
  it('one forged event a second costs a member a few owner-index queries a minute, not one a second', async () => {
    const table = new LaggingTable();
    const { host } = trackingHost(table);
    const { clock, advance } = handClock();
    const place: SyncPlace = { hears: true, leading: false };
    const { bus, member, hooks } = wiredMember(table, host, clock.monotonic);
    const sync = fleetSync(table, host, clock, place, member);
    // As lease-coordinator.ts onPeerLeaving (PEER_LEAVING_CHECK_MS = 1 s, drainTimeoutMs 10 s).
    hooks.peerLeaving = () => sync.checkOwnLeasesAfterPeerLeaving(10_000);
    await sync.sync();
    table.indexQueries = 0;
    for (let s = 0; s < 60; s += 1) {
      bus.eventHandler!({ type: 'worker-leaving', workerId: `ghost-${s}` });
      await settle(2);
      await sync.sync();
      advance(1_000);
    }
    // Periodic: 2 in a minute. A budget like the other prompts' would keep it near that.
    expect(table.indexQueries).toBeLessThanOrEqual(20);
  });
});

describe('forged events that prompt the leader to plan again (unsigned)', () => {
  it('a steady flood makes it read the namespace only within its budget of prompted refreshes', async () => {
    const { clock } = handClock();
    let namespaceReads = 0;
    const leader = fleetLeaderWith({
      clock,
      refresh: async () => {
        namespaceReads += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
      },
    });
    leader.elected({ namespace: NS, leaderId: 'leader', term: 3, heartbeat: 0 }, undefined);
    const bus = new OpenBus();
    const member = new FleetMember({
      bus: bus as unknown as CoordinationBus,
      store: {} as LeaseStore,
      namespace: NS,
      workerId: 'leader',
      host: quietHost(),
      directory: new FleetDirectory({} as LeaseStore, NS, clock),
      mayTakeLeases: () => true,
      onFleetChange: () => leader.replanSoon(), // as createFleetParts wires it
      onRevoked: async () => {},
      onSuccession: () => {},
      onShardEnded: () => {},
      onHandoverMissed: () => {},
      onHandoffAsked: () => {},
      onToldLeaving: () => {},
      consumes: () => true,
      onUnknownStream: () => {},
      releaseUnconsumed: () => {},
      handoffExpectedForMs: 12_000,
      monotonicNow: clock.monotonic,
      logger: silent,
    });
    member.start();
    try {
      // Anyone on NATS, while no time passes on the leader's clock: its budget never refills.
      for (let i = 0; i < 400; i += 1) {
        bus.eventHandler!({ type: 'checkpoint-reset', leaseKey: `shardId-${i}`, owner: 'nobody', leaseCounter: i });
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await settle();
    } finally {
      member.stop();
      leader.deposed();
    }
    expect(namespaceReads).toBeLessThanOrEqual(10);
  });
});

describe('the leader after a conflicting revocation', () => {
  afterEach(() => vi.useRealTimers());
  it('while DynamoDB throttles the refresh, a conflicting revocation is not written again before a newer read', async () => {
    vi.useFakeTimers();
    const { clock, advance } = handClock();
    let revokes = 0;
    let refreshes = 0;
    const store = {
      revokeWorker: async () => {
        revokes += 1;
        return { status: 'conflict' as const };
      },
    } as unknown as LeaseStore;
    const leader = fleetLeaderWith({
      clock,
      store,
      refresh: async () => {
        refreshes += 1;
        throw new Error('ProvisionedThroughputExceededException');
      },
    });
    // The last read (eventually consistent) still shows worker-b in nats mode under term 2; it switched back to
    // table heartbeats since, so each revocation conflicts; the strong refresh is throttled.
    leader.observe({ leases: [], workers: [workerRecord('worker-b', { grantTerm: 2 })], leadership: undefined });
    leader.elected({ namespace: NS, leaderId: 'leader', term: 3, heartbeat: 1 }, undefined);
    advance(2_500); // the term is older than revokeAfterMs: worker-b (earlier term) is overdue
    for (let i = 0; i < 30; i += 1) {
      await vi.advanceTimersByTimeAsync(100);
    }
    leader.deposed();
    // 3 s of verdict ticks: 30 conditional deletes and 30 strong namespace reads into a throttled table.
    expect(refreshes).toBeLessThanOrEqual(6);
    expect(revokes).toBeLessThanOrEqual(6);
  });
});

describe('a transfer target judged from a record read on its own', () => {
  it('a shutdown does not trust a target record read long before the transfer', async () => {
    const table = new LaggingTable();
    table.workers.set('worker-b', workerRecord('worker-b', { liveness: 'table' }));
    const { host } = trackingHost(table);
    const { clock, advance } = handClock();
    const sync = fleetSync(table, host, clock, { hears: true, leading: false });
    // startDraining: reads its targets' records while the drains run.
    expect(await sync.isLiveWorker('worker-b')).toBe(true);
    // Scale-down: worker-b got its SIGTERM at the same moment, and marks itself leaving 50 ms later.
    advance(50);
    table.workers.set('worker-b', workerRecord('worker-b', { liveness: 'table', status: 'leaving' }));
    // The drain of the batch in hand ends 700 ms later; releaseLease asks whether worker-b is live.
    advance(700);
    expect(await sync.isLiveWorker('worker-b')).toBe(false);
  });
});
