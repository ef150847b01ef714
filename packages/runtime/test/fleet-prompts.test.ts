import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { signed, type CoordinationBus, type FleetEvent, type LeaseStore } from '@shoal/coordinator';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FleetDirectory } from '../src/fleet/fleet-directory.js';
import type { FleetLeader } from '../src/fleet/leader/fleet-leader.js';
import { ShardSync } from '../src/fleet/lease-sync/shard-sync.js';
import { LeaderShardSyncs } from '../src/fleet/leader/leader-shard-syncs.js';
import { FleetMember } from '../src/fleet/member/fleet-member.js';
import type { LeaseHost } from '../src/leases/lease-host.js';
import { OpenBus, fleetLeaderWith, silentBus, singleStream, workerRecord } from './fakes/fleet.js';
import { testLease } from './fakes/records.js';
import { LaggingTable, fleetSync, handClock, settle, trackingHost, type SyncPlace } from './fakes/lagging-table.js';

/** The messages a worker that hears the leader depends on, lost, forged or out of budget. */
const NS = 'app/stream';
const ME = 'worker-a';
const LEADER = 'worker-leader';
const LEADER_KEY = 'leader-key';
const silent = pino({ level: 'silent' });

interface MemberOptions {
  readonly workerId?: string;
  readonly onShardEnded?: (leaseKey: string, shardId: string) => void;
  readonly onHandoverMissed?: () => void;
}

function fleetMember(table: LaggingTable, host: LeaseHost, monotonicNow: () => number, options: MemberOptions = {}) {
  const bus = new OpenBus();
  const clock = { now: () => 1_700_000_000_000 + monotonicNow(), monotonic: monotonicNow, sleep: async () => {} };
  const directory = new FleetDirectory(table as unknown as LeaseStore, NS, clock);
  let missed = 0;
  const member = new FleetMember({
    bus: bus as unknown as CoordinationBus,
    store: table as unknown as LeaseStore,
    namespace: NS,
    workerId: options.workerId ?? ME,
    host,
    directory,
    mayTakeLeases: () => true,
    onFleetChange: () => {},
    onRevoked: async () => {},
    onSuccession: () => {},
    onShardEnded: options.onShardEnded ?? (() => {}),
    consumes: () => true,
    onUnknownStream: () => {},
    releaseUnconsumed: () => {},
    onHandoverMissed: () => {
      missed += 1;
      options.onHandoverMissed?.();
    },
    onHandoffAsked: () => {},
    onToldLeaving: () => {},
    handoffExpectedForMs: 12_000, // drainTimeoutMs (10 s) + 2 s, as createFleetParts sets it
    monotonicNow,
    logger: silent,
  });
  member.start();
  return { bus, directory, member, missed: () => missed };
}

const leaseKeyOf = (i: number) => `shardId-${String(i).padStart(12, '0')}`;

describe('planned handoffs whose announcement a worker could not read (its prompted-read budget was spent)', () => {
  it('a new worker given 30 leases at once starts those whose announcement it could not read at its next check, not when the plan expires', async () => {
    const table = new LaggingTable();
    table.workers.set(LEADER, workerRecord(LEADER, { fleetKey: LEADER_KEY, grantTerm: 3 }));
    table.leadership = { namespace: NS, leaderId: LEADER, term: 3, heartbeat: 1 };
    const { host, started } = trackingHost(table);
    const { clock, advance, now } = handClock();
    const place: SyncPlace = { hears: true, leading: false };
    let sync: ReturnType<typeof fleetSync> | undefined;
    const { bus, member, directory } = fleetMember(table, host, clock.monotonic, { onHandoverMissed: () => sync?.checkOwnLeasesSoon() });
    sync = fleetSync(table, host, clock, place, member);
    directory.observeLeadership(table.leadership);
    await sync.sync();

    // Scale-out (10,000 leases × 100 workers gives a new worker ~100): the leader's plan moves
    // 30 leases to worker-a, each from epoch 4.
    const keys = Array.from({ length: 30 }, (_, i) => leaseKeyOf(i + 1));
    const moves = keys.map((leaseKey) => ({ leaseKey, from: 'worker-b', to: ME, kind: 'handoff' as const, leaseCounter: 4 }));
    bus.eventHandler!(signed({ type: 'plan' as const, leaderId: LEADER, term: 3, moves }, LEADER_KEY));
    await settle();
    // The owners drain and transfer them within the same half second and announce each.
    for (const leaseKey of keys)
      table.leases.set(leaseKey, testLease({ namespace: NS, shardId: leaseKey, leaseOwner: ME, leaseCounter: 5 }));
    advance(500);
    for (const leaseKey of keys) bus.eventHandler!({ type: 'lease-released', leaseKey, from: 'worker-b', to: ME, leaseCounter: 5 });
    await settle();
    // 20 were read at once (the budget's burst); for the other 10 the lease sync was told to check.
    while (now() < 5_000) {
      await sync.sync();
      await settle();
      advance(1_000);
    }
    // The check reads each of the 10 and leaves it to its announcement (expectsHandoff), which was
    // dropped: they stay owned by worker-a and run by nobody until the plan's 12 s run out.
    expect(new Set(started.map((entry) => entry.leaseKey)).size).toBe(30);
  });
});

describe('forged shard-ended prompts', () => {
  it('make the leader list shards and read the namespace only within its budgets', async () => {
    const table = new LaggingTable();
    for (let i = 0; i < 8; i += 1)
      table.leases.set(leaseKeyOf(i), testLease({ namespace: NS, shardId: leaseKeyOf(i), leaseOwner: 'leader' }));
    const { host } = trackingHost(table, 'leader');
    const { clock, advance } = handClock();
    let listings = 0;
    const kinesis = {
      send: async () => {
        listings += 1;
        return { Shards: [] };
      },
    } as unknown as KinesisClient;
    const controller = new AbortController();
    const shardSync = new ShardSync({
      store: table as unknown as LeaseStore,
      kinesis,
      namespace: NS,
      streams: singleStream(),
      initialPosition: { type: 'TRIM_HORIZON' },
      leaseCleanupDelayMs: 60_000,
      requestTimeoutMs: 5_000,
      writesLeases: () => true,
      signal: controller.signal,
      clock,
      logger: silent,
    });
    const leader = fleetLeaderWith({ clock, refresh: async () => void (await table.readNamespace()) });
    leader.elected({ namespace: NS, leaderId: 'leader', term: 3, heartbeat: 0 }, undefined);
    // As LeaseCoordinator wires them on the leader.
    const shardSyncs = new LeaderShardSyncs({
      syncShards: (after) => shardSync.sync(after),
      isLeading: () => true,
      replan: () => leader.replanSoon(),
      signal: controller.signal,
      clock,
      logger: silent,
    });
    const { bus } = fleetMember(table, host, clock.monotonic, {
      workerId: 'leader',
      onShardEnded: (_key, shardId) => shardSyncs.shardEnded({ streamName: 'stream', shardId }),
    });

    // Anyone on NATS: 100 forged shard-ended a second for 5 s.
    for (let step = 0; step < 50; step += 1) {
      advance(100);
      for (let i = 0; i < 10; i += 1) {
        bus.eventHandler!({ type: 'shard-ended', leaseKey: leaseKeyOf(1), shardId: leaseKeyOf(1), from: 'intruder' });
      }
      await settle();
    }
    controller.abort();
    // coordination.md: these prompts make the leader read the namespace "no closer than 100 ms
    // apart and within a budget of a burst of 10 then 2 a second": at most 20 reads in 5 s.
    // Each shard sync also reads the namespace itself, and lists the shards.
    // The shard syncs (each a listing and a read) and the leader's refreshes have a budget each.
    expect({ listings, namespaceReads: table.namespaceReads }).toEqual({
      listings: expect.toSatisfy((n: number) => n <= 20),
      namespaceReads: expect.toSatisfy((n: number) => n <= 40),
    });
  });

  it('cost members nothing: a real handover right after them is read at once', async () => {
    const table = new LaggingTable();
    const X = leaseKeyOf(42);
    const { host, started } = trackingHost(table);
    let t = 0;
    const { bus, missed } = fleetMember(table, host, () => t);
    for (let i = 0; i < 25; i += 1)
      bus.eventHandler!({ type: 'shard-ended', leaseKey: leaseKeyOf(1), shardId: leaseKeyOf(1), from: 'intruder' });
    t += 50;
    table.leases.set(X, testLease({ namespace: NS, shardId: X, leaseOwner: ME, leaseCounter: 5 }));
    bus.eventHandler!({ type: 'lease-released', leaseKey: X, from: 'worker-b', to: ME, leaseCounter: 5 });
    await settle();
    expect(missed()).toBe(0);
    expect(started.map((entry) => entry.leaseKey)).toEqual([X]);
  });
});

describe('a leadership row deleted (or restored from a backup): terms go backwards', () => {
  it('do not make members that saw term 10 refuse the plans of the new leader of term 1', async () => {
    const table = new LaggingTable();
    const OLD = 'worker-old';
    const NEW = 'worker-new';
    table.workers.set(OLD, workerRecord(OLD, { fleetKey: 'old-key', grantTerm: 10 }));
    table.workers.set(NEW, workerRecord(NEW, { fleetKey: 'new-key', grantTerm: 10 }));
    table.workers.set(ME, workerRecord(ME, { grantTerm: 10 }));
    const { host, started } = trackingHost(table);
    let t = 0;
    const { bus, directory } = fleetMember(table, host, () => t);
    // worker-a follows the leader of term 10 through its grants, and has acted on its plans.
    directory.observeLeadership({ namespace: NS, leaderId: OLD, term: 10, heartbeat: 40 });
    const seed = leaseKeyOf(1);
    table.leases.set(seed, testLease({ namespace: NS, shardId: seed, leaseOwner: undefined, leaseCounter: 2 }));
    bus.eventHandler!(
      signed(
        { type: 'plan' as const, leaderId: OLD, term: 10, moves: [{ leaseKey: seed, to: ME, kind: 'take' as const, leaseCounter: 2 }] },
        'old-key',
      ),
    );
    await settle();
    expect(started.map((entry) => entry.leaseKey)).toEqual([seed]);

    // An operator deletes the `leader` row (or the table is restored from a backup). The old
    // leader's renewal conflicts; worker-new finds the row missing and claims it: term 1.
    table.leadership = { namespace: NS, leaderId: NEW, term: 1, heartbeat: 0 };
    // Its grants carry the row (NatsLivenessKeeper.onLeaderSeen → directory.observeLeadership).
    directory.observeLeadership(table.leadership);
    // A worker dies; its lease X is free, and the new leader's plan gives it to worker-a.
    const X = leaseKeyOf(7);
    table.leases.set(X, testLease({ namespace: NS, shardId: X, leaseOwner: undefined, leaseCounter: 3 }));
    for (let minute = 0; minute < 10; minute += 1) {
      t += 60_000;
      directory.observeLeadership({ namespace: NS, leaderId: NEW, term: 1, heartbeat: 60 * (minute + 1) });
      bus.eventHandler!(
        signed(
          { type: 'plan' as const, leaderId: NEW, term: 1, moves: [{ leaseKey: X, to: ME, kind: 'take' as const, leaseCounter: 3 }] },
          'new-key',
        ),
      );
      await settle();
    }
    // Members no longer read the namespace while they hear the leader, so nothing else ever takes X.
    expect(started.map((entry) => entry.leaseKey)).toEqual([seed, X]);
  });
});

describe('forged plans naming the real leader', () => {
  it('make no member read the leader’s worker record again during the term it read it in', async () => {
    const table = new LaggingTable();
    table.workers.set(LEADER, workerRecord(LEADER, { fleetKey: LEADER_KEY, grantTerm: 3 }));
    const { host } = trackingHost(table);
    let t = 0;
    const { bus, directory } = fleetMember(table, host, () => t);
    directory.observeLeadership({ namespace: NS, leaderId: LEADER, term: 3, heartbeat: 1 });
    for (let step = 0; step < 100; step += 1) {
      t += 100;
      bus.eventHandler!(
        signed(
          {
            type: 'plan' as const,
            leaderId: LEADER,
            term: 3,
            moves: [] as { leaseKey: string; to: string; kind: 'take'; leaseCounter: number }[],
          },
          'not-the-key',
        ),
      );
      await settle(5);
    }
    // 10 s of a forged flood: one consistent GetItem a second per member (100 members: 100 a second).
    expect(table.workerReads.length).toBeLessThanOrEqual(1);
  });
});

describe('a new leader elected after a leadership change it followed only through grants', () => {
  const leaders: FleetLeader[] = [];
  afterEach(() => {
    for (const leader of leaders.splice(0)) leader.deposed();
    vi.useRealTimers();
  });

  it('revokes the dead previous leader at once (coordination.md), after reading its record afresh', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { clock, advance, now } = handClock();
    // The table's worker records as they are now: `old-leader` led term 7 (and lives on it).
    const records = new Map([
      ['old-leader', { liveness: 'nats' as const, grantTerm: 7 }],
      ['worker-b', { liveness: 'table' as const, grantTerm: undefined }],
    ]);
    const revoked: { workerId: string; at: number }[] = [];
    const store = {
      revokeWorker: async (_namespace: string, workerId: string, grantTerm: number | undefined) => {
        const record = records.get(workerId);
        if (!record || record.liveness !== 'nats' || record.grantTerm !== grantTerm) return { status: 'conflict' as const };
        records.delete(workerId);
        revoked.push({ workerId, at: now() });
        return { status: 'applied' as const, value: undefined };
      },
    };
    const leader = fleetLeaderWith({ store: store as unknown as LeaseStore, clock, bus: silentBus(), refresh: async () => {} });
    leaders.push(leader);
    // The last namespace read of this worker (worker `leader`) was an hour ago, while term 6
    // ruled; since then it heard the leaders of terms 6 and 7 through grants and read nothing.
    leader.observe({
      leases: [testLease({ namespace: NS, leaseOwner: 'old-leader', leaseCounter: 2 })],
      workers: [
        workerRecord('leader', { grantTerm: 6 }),
        workerRecord('old-leader', { grantTerm: 6 }),
        workerRecord('worker-b', { grantTerm: 6 }),
      ],
      leadership: { namespace: NS, leaderId: 'old-leader', term: 6, heartbeat: 3 },
    });
    advance(3_600_000);
    // old-leader (term 7) is killed; `leader` claims its expired row: term 8.
    leader.elected({ namespace: NS, leaderId: 'leader', term: 8, heartbeat: 0 }, 'old-leader');
    await vi.advanceTimersByTimeAsync(0);
    // Its lease sync reads the namespace right after (the leader's first full sync).
    advance(300);
    leader.observe({
      leases: [testLease({ namespace: NS, leaseOwner: 'old-leader', leaseCounter: 2 })],
      workers: [
        workerRecord('leader', { grantTerm: 7 }),
        workerRecord('old-leader', { grantTerm: 7 }),
        workerRecord('worker-b', { liveness: 'table', grantTerm: undefined }),
      ],
      leadership: { namespace: NS, leaderId: 'leader', term: 8, heartbeat: 0 },
    });
    for (let step = 0; step < 10; step += 1) {
      advance(100);
      await vi.advanceTimersByTimeAsync(100);
    }
    // "the previous leader at once when it took over an expired (not resigned) term"
    expect(revoked.map((entry) => entry.workerId)).toEqual(['old-leader']);
  });
});

describe('the leader’s read right after a revocation, eventually consistent', () => {
  const leaders: FleetLeader[] = [];
  afterEach(() => {
    for (const leader of leaders.splice(0)) leader.deposed();
    vi.useRealTimers();
  });

  it('may still list the revoked worker: the leader keeps the revocation and frees its leases all the same', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { clock, advance } = handClock();
    const W = 'worker-w';
    const owned = testLease({ namespace: NS, leaseOwner: W, leaseCounter: 4 });
    const beforeRevocation = {
      leases: [owned],
      workers: [
        workerRecord('leader', { grantTerm: 3 }),
        workerRecord(W, { grantTerm: 3 }),
        workerRecord('worker-b', { liveness: 'table', grantTerm: undefined }),
      ],
      leadership: { namespace: NS, leaderId: 'leader', term: 3, heartbeat: 0 },
    };
    const published: FleetEvent[] = [];
    const ownMoves: { leaseKey: string; kind: string; from?: string | undefined }[] = [];
    const store = { revokeWorker: async () => ({ status: 'applied' as const, value: undefined }) };
    const leader: FleetLeader = fleetLeaderWith({
      store: store as unknown as LeaseStore,
      clock,
      bus: silentBus({
        publish: (event) => void published.push(event),
        publishPlan: (_to, plan) => void published.push(plan),
        sendCommand: async () => ({ accepted: true }),
      }),
      // The leader's own takes are acted on here, the others' sent to them: both count.
      actOnOwnMoves: (moves) => void ownMoves.push(...moves),
      // LeaseSync.refresh: an eventually consistent Query a few ms after the conditional delete,
      // served by a replica that has not applied it yet (DynamoDB: "might not reflect the results
      // of a recently completed write").
      refresh: async () => leader.observe(beforeRevocation),
    });
    leaders.push(leader);
    leader.elected({ namespace: NS, leaderId: 'leader', term: 3, heartbeat: 0 }, undefined);
    leader.observe(beforeRevocation);
    // W was killed: no grant for livenessFailoverMs; the verdict revokes it.
    advance(2_100);
    await vi.advanceTimersByTimeAsync(100);
    expect(published).toContainEqual({ type: 'worker-revoked', workerId: W, leaderId: 'leader' });
    expect(leader.isAlive(W)).toBe(false);
    const takes = [...ownMoves, ...published.flatMap((event) => (event.type === 'plan' ? event.moves : []))].filter(
      (move) => move.leaseKey === owned.leaseKey,
    );
    expect(takes).toContainEqual(expect.objectContaining({ kind: 'take', from: W }));
  });
});

describe('the drain target as the member’s directory remembers it', () => {
  it('takes a worker that restarted under the same id (a StatefulSet pod) as a target within a second', async () => {
    const table = new LaggingTable();
    table.workers.set(LEADER, workerRecord(LEADER, { fleetKey: LEADER_KEY, grantTerm: 3 }));
    table.workers.set('worker-3', workerRecord('worker-3', { status: 'leaving' }));
    const X = leaseKeyOf(9);
    const { host, hosted, sent } = trackingHost(table);
    hosted.set(X, { state: 'owned', ownership: { namespace: NS, leaseKey: X, leaseOwner: ME, leaseCounter: 4 } });
    let t = 0;
    const { bus, directory } = fleetMember(table, host, () => t);
    directory.observeLeadership({ namespace: NS, leaderId: LEADER, term: 3, heartbeat: 1 });
    const drain = (to: string) =>
      signed({ type: 'drain-lease' as const, leaseKey: X, to, requestedBy: LEADER, term: 3, leaseCounter: 4 }, LEADER_KEY);
    // The leader planned from a read that still showed worker-3 active, just as it began to drain.
    expect((await bus.commandHandler!(drain('worker-3'))).accepted).toBe(false);
    // worker-3's process stops, deregisters, and its replacement registers under the same id.
    t += 5_000;
    table.workers.set('worker-3', workerRecord('worker-3', { status: 'active', heartbeat: 0 }));
    // The leader's plan for the new worker-3 (a scale-out move), sent again every 3 s.
    const replies: boolean[] = [];
    for (let i = 0; i < 5; i += 1) {
      t += 3_000;
      replies.push((await bus.commandHandler!(drain('worker-3'))).accepted);
    }
    expect(replies[0]).toBe(true);
    expect(sent.map((entry) => entry.event.type)).toContain('DRAIN');
  });
});
