import {
  OwnershipTracker,
  signed,
  type FleetEvent,
  type Lease,
  type LeaseMove,
  type LeaseStore,
  type LivenessRequest,
  type NamespaceSnapshot,
} from '@shoal/coordinator';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FleetLeader } from '../src/fleet/leader/fleet-leader.js';
import type { FleetMove } from '../src/fleet/fleet-plan.js';
import { releaseLease } from '../src/leases/release-lease.js';
import { fleetLeaderWith, silentBus, workerRecord } from './fakes/fleet.js';
import { testLease } from './fakes/records.js';

const leaders: FleetLeader[] = [];
afterEach(() => {
  for (const leader of leaders.splice(0)) leader.deposed();
});

const record = (workerId: string) => workerRecord(workerId);
const leadership = { namespace: 'app/stream', leaderId: 'leader', term: 2, heartbeat: 5 };

function leaderOf() {
  let now = 0;
  const plans: FleetEvent[] = [];
  const own: LeaseMove[] = [];
  const ownerships = new OwnershipTracker(15_000, () => now);
  const leader = fleetLeaderWith({
    bus: silentBus({ publish: (event: FleetEvent) => void plans.push(event), publishPlan: (_to, plan) => void plans.push(plan) }),
    ownerships,
    actOnOwnMoves: (moves) => void own.push(...moves),
    clock: { now: () => 1_700_000_000_000 + now, monotonic: () => now, sleep: async () => {} },
  });
  leaders.push(leader);
  leader.elected({ ...leadership }, undefined);
  return {
    leader,
    plans,
    own,
    observe: (snapshot: NamespaceSnapshot, at: number) => {
      now = at;
      ownerships.observe(snapshot.leases, at);
      leader.observe(snapshot);
    },
  };
}

describe('the leader and a worker record that vanished without its revocation', () => {
  it('plans a vanished owner’s leases onto live workers at once, as coordination.md says', () => {
    const { plans, own, observe } = leaderOf();
    // `gone` took two leases a moment ago (a scale-out, or handoffs to it); then its record vanished
    // without this leader revoking it: it deregistered with leases it could not release, another
    // worker removed it as dead, or this leader's own revocation applied but timed out.
    const leases: Lease[] = [
      testLease({ shardId: 'shardId-000000000010', leaseOwner: 'leader', leaseCounter: 3 }),
      testLease({ shardId: 'shardId-000000000011', leaseOwner: 'other', leaseCounter: 3 }),
      testLease({ shardId: 'shardId-000000000012', leaseOwner: 'gone', leaseCounter: 3 }),
      testLease({ shardId: 'shardId-000000000013', leaseOwner: 'gone', leaseCounter: 3 }),
    ];
    observe({ leases, workers: [record('leader'), record('other'), record('gone')], leadership }, 0);
    observe({ leases, workers: [record('leader'), record('other')], leadership }, 1_000);
    observe({ leases, workers: [record('leader'), record('other')], leadership }, 5_000);
    const moves = [...own, ...plans.flatMap((event) => (event.type === 'plan' ? event.moves : []))];
    const taken = moves.filter((move) => move.kind === 'take').map((move) => move.leaseKey);
    // A vanished owner is gone: its leases are taken at once, not left to a drain command nobody
    // answers while workers that hear the leader wait for its plan.
    expect(moves.filter((move) => move.leaseKey >= 'shardId-000000000012').map((move) => move.kind)).toContain('take');
    expect(new Set(taken)).toEqual(new Set(['shardId-000000000012', 'shardId-000000000013']));
  });
});

describe('releaseLease after a drain', () => {
  it('does not transfer the lease to a drain target this worker knows is no longer live', async () => {
    const transfers: string[] = [];
    const store = {
      transferLease: async (_ownership: unknown, to: string) => {
        transfers.push(to);
        return { status: 'applied' as const, value: testLease({ leaseOwner: to }) };
      },
      getLease: async () => testLease({ leaseOwner: 'worker-a', leaseCounter: 3 }),
      releaseLease: async () => ({ status: 'applied' as const, value: testLease() }),
    } as unknown as LeaseStore;
    const ownership = { namespace: 'app/stream', leaseKey: 'shardId-000000000001', leaseOwner: 'worker-a', leaseCounter: 3 };
    // The target was chosen when the drain began (leader's command or the shutdown plan); the
    // drain took up to drainTimeoutMs, and meanwhile the target died or was revoked.
    const { outcome, to } = await releaseLease(store, { ownership, handoffTo: 'worker-dead' }, async (id) => id !== 'worker-dead');
    // Released to anyone instead of transferred to the dead worker, so it does not wait for the
    // 15 s ownership rule.
    expect({ outcome, to, transfers }).toEqual({ outcome: 'released', to: undefined, transfers: [] });
  });
});

describe('the leader and handoff requests written in the table', () => {
  it('passes a request on to an owner that hears it, as a drain command towards the requester, once per resend interval', () => {
    let now = 0;
    const commands: { owner: string; command: unknown }[] = [];
    const leader = fleetLeaderWith({
      bus: silentBus({
        sendCommand: async (owner, command) => {
          commands.push({ owner, command });
          return { accepted: true };
        },
      }),
      clock: { now: () => 1_700_000_000_000 + now, monotonic: () => now, sleep: async () => {} },
    });
    leaders.push(leader);
    leader.elected({ ...leadership }, undefined);
    // `asker` plans for itself (it holds no grant of this leader) and wrote itself as pending owner.
    const leases = [
      testLease({ shardId: 'shardId-000000000001', leaseOwner: 'owner', leaseCounter: 7, pendingOwner: 'asker' }),
      testLease({ shardId: 'shardId-000000000002', leaseOwner: 'owner', leaseCounter: 3 }),
      testLease({ shardId: 'shardId-000000000003', leaseOwner: 'asker', leaseCounter: 2 }),
      testLease({ shardId: 'shardId-000000000004', leaseOwner: 'leader', leaseCounter: 2 }),
    ];
    const snapshot = { leases, workers: [record('leader'), record('owner'), record('asker')], leadership };
    leader.observe(snapshot);
    leader.observe(snapshot);
    expect(commands.map(({ owner, command }) => ({ owner, ...(command as object) }))).toEqual([
      expect.objectContaining({
        owner: 'owner',
        type: 'drain-lease',
        leaseKey: 'shardId-000000000001',
        to: 'asker',
        leaseCounter: 7,
        term: 2,
      }),
    ]);
    now = 3_000;
    leader.observe(snapshot);
    expect(commands).toHaveLength(2);
  });
});

describe('the leader’s plans sent again', () => {
  it('sends a take once while it is carried out, again after 3 s or when the lease moved on', () => {
    let now = 0;
    const sent: { to: string; leaseKey: string; leaseCounter: number }[] = [];
    const leader = fleetLeaderWith({
      bus: silentBus({
        publishPlan: (to, plan) => void sent.push(...plan.moves.map(({ leaseKey, leaseCounter }) => ({ to, leaseKey, leaseCounter }))),
      }),
      clock: { now: () => 1_700_000_000_000 + now, monotonic: () => now, sleep: async () => {} },
    });
    leaders.push(leader);
    leader.elected({ ...leadership }, undefined);
    const free = testLease({ shardId: 'shardId-000000000001', leaseCounter: 4 });
    const workers = [record('leader'), record('member')];
    const snapshot = {
      leases: [testLease({ shardId: 'shardId-000000000000', leaseOwner: 'leader', leaseCounter: 1 }), free],
      workers,
      leadership,
    };
    leader.observe(snapshot);
    now = 1_000;
    leader.observe(snapshot);
    expect(sent).toEqual([{ to: 'member', leaseKey: free.leaseKey, leaseCounter: 4 }]);
    // Still free 3 s later (its message lost, say): sent again.
    now = 3_000;
    leader.observe(snapshot);
    expect(sent).toHaveLength(2);
    // Taken and freed again in between: a move of another ownership period goes out at once.
    now = 3_500;
    leader.observe({ ...snapshot, leases: [snapshot.leases[0]!, { ...free, leaseCounter: 6 }] });
    expect(sent.at(-1)).toEqual({ to: 'member', leaseKey: free.leaseKey, leaseCounter: 6 });
    expect(leader.stateSizes().sentTakes).toBe(1);
  });
});

describe('where the leader sends each worker’s moves', () => {
  function routingLeader() {
    let now = 0;
    const perWorker: { to: string; moves: string[] }[] = [];
    const broadcast: string[][] = [];
    const own: FleetMove[] = [];
    const leader = fleetLeaderWith({
      bus: silentBus({
        publish: (event) => void (event.type === 'plan' && broadcast.push(event.moves.map((move) => `${move.leaseKey}->${move.to}`))),
        publishPlan: (to, plan) => void perWorker.push({ to, moves: plan.moves.map((move) => `${move.leaseKey}->${move.to}`) }),
      }),
      actOnOwnMoves: (moves) => void own.push(...moves),
      clock: { now: () => 1_700_000_000_000 + now, monotonic: () => now, sleep: async () => {} },
    });
    leaders.push(leader);
    leader.elected({ ...leadership }, undefined);
    return { leader, perWorker, broadcast, own, at: (ms: number) => void (now = ms) };
  }
  const free = (n: number) => testLease({ shardId: `shardId-${String(n).padStart(12, '0')}`, leaseCounter: 1 });

  it('tells the worker a take went to before that it went elsewhere, so it drops the take it may have queued', () => {
    const { leader, perWorker, at } = routingLeader();
    const leases = [0, 1, 2, 3].map(free);
    leader.observe({ leases, workers: [record('leader'), record('worker-a')], leadership });
    const toA = perWorker.filter(({ to }) => to === 'worker-a').flatMap(({ moves }) => moves);
    expect(toA).toHaveLength(2);
    // worker-b joins while the leases are still free: the plan moves some of A's takes to B.
    at(1_000);
    perWorker.length = 0;
    leader.observe({ leases, workers: [record('leader'), record('worker-a'), record('worker-b')], leadership });
    const redirected = perWorker.filter(({ to }) => to === 'worker-b').flatMap(({ moves }) => moves);
    expect(redirected.length).toBeGreaterThan(0);
    const toldA = perWorker.filter(({ to }) => to === 'worker-a').flatMap(({ moves }) => moves);
    for (const move of redirected) if (toA.some((earlier) => earlier.split('->')[0] === move.split('->')[0])) expect(toldA).toContain(move);
  });

  it('tells no worker that is gone about a redirect, and the leader itself through its own moves', () => {
    const { leader, perWorker, broadcast, own, at } = routingLeader();
    const leases = [0, 1, 2, 3, 4, 5, 6, 7].map(free);
    leader.observe({ leases, workers: [record('leader'), record('worker-gone')], leadership });
    const leadersTakes = new Set(own.map((move) => move.leaseKey));
    // worker-gone's record vanished; two workers joined: its takes and some of the leader's move to them.
    at(1_000);
    own.length = 0;
    perWorker.length = 0;
    leader.observe({ leases, workers: [record('leader'), record('worker-b'), record('worker-c')], leadership });
    expect(broadcast).toEqual([]);
    expect(perWorker.map(({ to }) => to)).not.toContain('worker-gone');
    const redirectedFromLeader = own.filter((move) => move.to !== 'leader');
    expect(redirectedFromLeader.length).toBeGreaterThan(0);
    expect(redirectedFromLeader.every((move) => leadersTakes.has(move.leaseKey))).toBe(true);
  });

  it('publishes to the whole fleet the moves of workers whose record does not say they listen on their own subject', () => {
    const { leader, perWorker, broadcast } = routingLeader();
    const leases = [0, 1, 2, 3, 4, 5].map(free);
    // worker-old runs an earlier release (a rolling deploy): it hears plans only as fleet events.
    leader.observe({
      leases,
      workers: [record('leader'), record('worker-new'), workerRecord('worker-old', { ownPlanSubject: undefined })],
      leadership,
    });
    expect(perWorker.map(({ to }) => to)).toEqual(['worker-new']);
    expect(perWorker[0]!.moves.every((move) => move.endsWith('->worker-new'))).toBe(true);
    expect(broadcast.flat()).toHaveLength(2);
    expect(broadcast.flat().every((move) => move.endsWith('->worker-old'))).toBe(true);
  });
});

describe('the leader’s messages at scale', () => {
  it('plans a cold start of 10,000 leases over 100 workers in messages far below any server’s max_payload, every lease once, each worker only its own', () => {
    let now = 0;
    const plans: FleetEvent[] = [];
    const addressedTo: string[] = [];
    const own: FleetMove[] = [];
    const leader = fleetLeaderWith({
      bus: silentBus({
        publishPlan: (to, plan) => {
          addressedTo.push(to);
          plans.push(plan);
        },
      }),
      actOnOwnMoves: (moves) => void own.push(...moves),
      clock: { now: () => 1_700_000_000_000 + now, monotonic: () => now, sleep: async () => {} },
    });
    leaders.push(leader);
    leader.elected({ ...leadership }, undefined);
    // Worker ids as containers name them (a 64-character host name and a suffix), shard ids as Kinesis does.
    const workerIds = Array.from({ length: 100 }, (_, i) => `${'ip-10-0-0-1.eu-west-1.compute.internal-'.padEnd(64, 'x')}-${i}`);
    const leases = Array.from({ length: 10_000 }, (_, i) => testLease({ shardId: `shardId-${String(i).padStart(12, '0')}` }));
    leader.observe({ leases, workers: [record('leader'), ...workerIds.map(record)], leadership });

    const sizes = plans.map((event) => Buffer.byteLength(JSON.stringify(event)));
    // The bus drops received events above 512 KiB; NATS's default max_payload is 1 MiB.
    expect(Math.max(...sizes)).toBeLessThan(256 * 1024);
    const published = plans.flatMap((event) => (event.type === 'plan' ? event.moves : []));
    // Each message goes to one worker and holds only that worker's moves; the leader's own are never sent.
    plans.forEach((event, index) => {
      expect(event.type === 'plan' && event.moves.every((move) => move.to === addressedTo[index])).toBe(true);
    });
    expect(addressedTo).not.toContain('leader');
    expect(new Set(addressedTo).size).toBe(100);
    const moves = [...own, ...published];
    expect(new Set(moves.map((move) => move.leaseKey)).size).toBe(10_000);
    expect(moves).toHaveLength(10_000);
    const perWorker = new Map<string, number>();
    for (const move of moves) perWorker.set(move.to, (perWorker.get(move.to) ?? 0) + 1);
    expect(Math.max(...perWorker.values()) - Math.min(...perWorker.values())).toBeLessThanOrEqual(1);
  });
});

describe('the leader and a worker that went silent right after its first grants', () => {
  it('reads the table again once (its last read still shows the worker in table mode), so it can revoke it at once', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      let now = 0;
      let refreshes = 0;
      let answer: ((request: LivenessRequest) => unknown) | undefined;
      const leader = fleetLeaderWith({
        bus: silentBus({
          serveLiveness: (handler) => {
            answer = handler;
            return () => {};
          },
        }),
        refresh: async () => void (refreshes += 1),
        clock: { now: () => 1_700_000_000_000 + now, monotonic: () => now, sleep: async () => {} },
      });
      leaders.push(leader);
      leader.elected({ ...leadership }, undefined);
      // The leader's last read: W registered, still in table mode.
      leader.observe({ leases: [], workers: [record('leader'), workerRecord('W', { liveness: 'table', fleetKey: 'w-key' })], leadership });
      expect(answer!(signed({ workerId: 'W', seq: 1 }, 'w-key'))).toMatchObject({ granted: true });
      // W switched to nats mode (after that read) and was killed: no more requests.
      now = 2_500;
      await vi.advanceTimersByTimeAsync(300);
      expect(refreshes).toBe(1);
      now = 6_000;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(refreshes).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('the leader and workers that ask for grants before its namespace read lists them', () => {
  function leaderServing(lookUpWorker: (workerId: string) => Promise<ReturnType<typeof workerRecord> | undefined>) {
    let answer: ((request: LivenessRequest) => unknown) | undefined;
    const leader = fleetLeaderWith({
      bus: silentBus({
        serveLiveness: (handler) => {
          answer = handler;
          return () => {};
        },
      }),
      lookUpWorker,
      clock: { now: () => 1_700_000_000_000, monotonic: () => 0, sleep: async () => {} },
    });
    leaders.push(leader);
    leader.elected({ ...leadership }, undefined);
    leader.observe({ leases: [], workers: [record('leader')], leadership });
    return { leader, ask: (workerId: string, key: string) => answer!(signed({ workerId, seq: 1 }, key)) };
  }

  it('reads a joiner’s record on its own and grants its next request, without waiting for the next namespace read', async () => {
    const reads: string[] = [];
    const { ask } = leaderServing(async (workerId) => {
      reads.push(workerId);
      return workerRecord(workerId, { liveness: 'table', fleetKey: `${workerId}-key` });
    });
    expect(ask('late', 'late-key')).toBeUndefined();
    await new Promise((resolve) => setImmediate(resolve));
    expect(ask('late', 'late-key')).toMatchObject({ granted: true });
    expect(reads).toEqual(['late']);
  });

  it('grants nobody the table does not list, and reads records for forged names within its budget only', async () => {
    const reads: string[] = [];
    const { ask } = leaderServing(async (workerId) => {
      reads.push(workerId);
      return undefined;
    });
    for (let n = 0; n < 500; n += 1) expect(ask(`forged-${n}`, 'any-key')).toBeUndefined();
    await new Promise((resolve) => setImmediate(resolve));
    expect(ask('forged-1', 'any-key')).toBeUndefined();
    expect(reads.length).toBe(100);
  });
});

describe('a leader whose term ran out', () => {
  it('still holds the term until told, but no longer leads with term left to act on', () => {
    let remaining = 2_000;
    const leader = fleetLeaderWith({
      remainingTermMs: () => remaining,
      clock: { now: () => 1_700_000_000_000, monotonic: () => 0, sleep: async () => {} },
    });
    leaders.push(leader);
    expect(leader.leadsWithTermLeft()).toBe(false);
    leader.elected({ ...leadership }, undefined);
    expect([leader.isLeading(), leader.leadsWithTermLeft()]).toEqual([true, true]);
    // Paused past its term: it has not heard it was replaced, and must not act on its belief.
    remaining = 0;
    expect([leader.isLeading(), leader.leadsWithTermLeft()]).toEqual([true, false]);
  });
});
