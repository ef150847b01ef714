import {
  MessageDropLog,
  signed,
  type CoordinationBus,
  type Lease,
  type LeaseStore,
  type WorkerCommand,
  type WorkerRecord,
} from '@shoal/coordinator';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FleetDirectory } from '../src/fleet/fleet-directory.js';
import { FleetMember } from '../src/fleet/member/fleet-member.js';
import type { HostedLease } from '../src/leases/lease-host.js';
import { RecordingClock } from './fakes/fake-clock.js';
import { OpenBus, quietHost, workerRecord } from './fakes/fleet.js';
import { testLease } from './fakes/records.js';

const ME = 'worker-a';
const LEADER = 'worker-leader';
const LEADER_KEY = 'leader-key';

/** Counts the consistent reads a worker makes against the table. */
class CountingStore {
  reads = { getLease: 0, getWorker: 0, getLeadership: 0 };
  constructor(private readonly lease: Lease) {}
  async getLease() {
    this.reads.getLease += 1;
    return this.lease;
  }
  async getWorker(_namespace: string, workerId: string): Promise<WorkerRecord | undefined> {
    this.reads.getWorker += 1;
    return record(workerId);
  }
  async getLeadership() {
    this.reads.getLeadership += 1;
    return { namespace: 'app/stream', leaderId: LEADER, term: 3, heartbeat: 1 };
  }
}

function record(workerId: string, fleetKey?: string): WorkerRecord {
  return workerRecord(workerId, { grantTerm: 3, ...(fleetKey ? { fleetKey } : {}) });
}

interface MemberSetup {
  readonly hosted?: Map<string, HostedLease>;
  /** The lease the table holds (every read returns it). */
  readonly lease?: Lease;
  /** Workers the table lists besides this one and the leader. */
  readonly others?: readonly string[];
  /** Whether the worker may take leases now (default: yes). */
  readonly mayTake?: () => boolean;
}

function member({
  hosted = new Map(),
  lease = testLease({ leaseOwner: 'worker-b', leaseCounter: 4 }),
  others = ['worker-b', 'worker-c'],
  mayTake = () => true,
}: MemberSetup = {}) {
  const bus = new OpenBus();
  const store = new CountingStore(lease);
  const directory = new FleetDirectory(store as unknown as LeaseStore, 'app/stream', new RecordingClock());
  directory.observe({
    leases: [lease],
    workers: [record(ME), ...others.map((id) => record(id)), record(LEADER, LEADER_KEY)],
    leadership: { namespace: 'app/stream', leaderId: LEADER, term: 3, heartbeat: 1 },
  });
  const sentToLease: string[] = [];
  const started: { leaseKey: string; owner: string | undefined; counter: number; mode: string }[] = [];
  const host = quietHost({
    hostedLeases: () => hosted,
    startLease: (started_, mode) =>
      void started.push({ leaseKey: started_.leaseKey, owner: started_.leaseOwner, counter: started_.leaseCounter, mode }),
    sendToLease: (leaseKey, event) => void sentToLease.push(`${leaseKey}:${event.type}`),
  });
  let successions = 0;
  let fleetChanges = 0;
  let toldLeaving = 0;
  const asked: string[] = [];
  let missed = 0;
  let now = 0;
  const fleetMember = new FleetMember({
    bus: bus as unknown as CoordinationBus,
    store: store as unknown as LeaseStore,
    namespace: 'app/stream',
    workerId: ME,
    host,
    directory,
    mayTakeLeases: mayTake,
    onFleetChange: () => void (fleetChanges += 1),
    onRevoked: async () => {},
    onSuccession: () => void (successions += 1),
    onShardEnded: () => {},
    consumes: () => true,
    onUnknownStream: () => {},
    releaseUnconsumed: () => {},
    onHandoverMissed: () => void (missed += 1),
    onHandoffAsked: (leaseKey) => void asked.push(leaseKey),
    onToldLeaving: () => void (toldLeaving += 1),
    handoffExpectedForMs: 12_000,
    monotonicNow: () => now,
    logger: pino({ level: 'silent' }),
  });
  fleetMember.start();
  return {
    bus,
    store,
    lease,
    sentToLease,
    started,
    fleetMember,
    successions: () => successions,
    fleetChanges: () => fleetChanges,
    toldLeaving: () => toldLeaving,
    asked,
    missed: () => missed,
    advance: (ms: number) => void (now += ms),
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('messages anyone on NATS can send, unsigned', () => {
  it('a flood of forged prompts costs the table no more than a bounded number of reads', async () => {
    const { bus, store, lease, successions } = member();
    for (let i = 0; i < 1_000; i += 1) {
      bus.eventHandler!({ type: 'lease-released', leaseKey: lease.leaseKey, from: 'worker-b', to: ME, leaseCounter: 5 });
      bus.eventHandler!({ type: 'worker-revoked', workerId: ME, leaderId: LEADER });
      bus.eventHandler!({ type: 'leader-resigned', leaderId: LEADER, term: 3, successor: ME });
    }
    await settle();
    // Each succession prompt is a consistent GetItem of the leadership row (election.recheck()).
    const reads = { ...store.reads, getLeadership: store.reads.getLeadership + successions() };
    // Each kind is a consistent read on the namespace's one partition key (shared with heartbeats,
    // renewals and checkpoints): a flood of prompts may cause a bounded number only.
    expect(reads.getLease + reads.getWorker + reads.getLeadership).toBeLessThan(100);
  });
});

describe('drain commands signed by the current leader', () => {
  function drain(leaseCounter: number, leaseKey: string, to: string): WorkerCommand {
    return signed({ type: 'drain-lease' as const, leaseKey, to, requestedBy: LEADER, term: 3, leaseCounter }, LEADER_KEY);
  }

  function ownedHere(leaseCounter: number) {
    const lease = testLease({ leaseOwner: ME, leaseCounter });
    const hosted = new Map<string, HostedLease>([
      [lease.leaseKey, { state: 'owned', ownership: { namespace: 'app/stream', leaseKey: lease.leaseKey, leaseOwner: ME, leaseCounter } }],
    ]);
    return { ...member({ hosted }), lease };
  }

  it('are judged by the lease table and the epoch alone, never by comparing clocks across machines', async () => {
    const { lease, bus, sentToLease } = ownedHere(4);
    const reply = await bus.commandHandler!(drain(4, lease.leaseKey, 'worker-c'));
    expect(reply).toEqual({ accepted: true });
    expect(sentToLease).toEqual([`${lease.leaseKey}:DRAIN`]);
  });

  it('cannot be replayed to move a lease again once it has moved back', async () => {
    // The leader's command, captured off the wire when it moved this lease away at epoch 3 ...
    const { lease, bus, sentToLease } = ownedHere(4);
    // ... and the lease has since come back here (epoch 4): the replay names the old period.
    const reply = await bus.commandHandler!(drain(3, lease.leaseKey, 'worker-c'));
    expect(reply.accepted).toBe(false);
    expect(sentToLease).toEqual([]);
  });
});

describe('MessageDropLog', () => {
  it('logs a flood of garbage at most once per interval, whatever subjects it comes on', () => {
    const lines: unknown[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const drops = new MessageDropLog(logger);
    // `shoal.<app>.events.>` matches any subject below it, and each reply inbox is a fresh
    // subject: a forger may pick a new one per message. Subjects are details, never the key.
    for (let i = 0; i < 5_000; i += 1) drops.drop('fleet event', 'malformed fleet event: not JSON', { subject: `shoal.app.events.x${i}` });
    expect(drops.dropped).toBe(5_000);
    expect(lines).toHaveLength(1);
  });
});

describe('a signed plan replayed later', () => {
  it('does not take a lease from a worker that recovered and re-acquired it after the plan was made', async () => {
    const W = 'worker-w';
    // The table now: W was revoked, registered again (same worker id) and re-acquired the lease
    // with a conditional write (epoch 9); W is listed and processing it.
    const reacquired = testLease({ shardId: 'shardId-000000000042', leaseOwner: W, leaseCounter: 9 });
    const { bus, started } = member({ lease: reacquired, others: [W] });
    // The leader's plan from the moment W was revoked (W owned the lease at epoch 8 then), signed
    // with its key, as anyone subscribed to shoal.<app>.events.plan saw it go by.
    const captured = signed(
      {
        type: 'plan' as const,
        leaderId: LEADER,
        term: 3,
        moves: [{ leaseKey: reacquired.leaseKey, from: W, to: ME, kind: 'take' as const, leaseCounter: 8 }],
      },
      LEADER_KEY,
    );
    bus.eventHandler!(captured);
    await settle();
    // The move names the epoch the leader saw (8): W's new ownership (epoch 9) does not match, so
    // nothing is taken from the live W.
    expect(started).toEqual([]);
  });
});

describe('a planned handoff to this worker', () => {
  function handoffPlan(leaseKey: string, leaseCounter: number) {
    return signed(
      {
        type: 'plan' as const,
        leaderId: LEADER,
        term: 3,
        moves: [{ leaseKey, from: 'worker-b', to: ME, kind: 'handoff' as const, leaseCounter }],
      },
      LEADER_KEY,
    );
  }

  it('holds back the lease sync only for the epoch its transfer makes, so a replayed plan delays nothing', async () => {
    const { bus, lease, fleetMember } = member();
    bus.eventHandler!(handoffPlan(lease.leaseKey, 4));
    await settle();
    // Transferred here from worker-b's epoch 4: the announcement will start it.
    expect(fleetMember.expectsHandoff(lease.leaseKey, 5)).toBe(true);
    // The lease is here at another epoch (the plan was from another ownership period): adopt it.
    expect(fleetMember.expectsHandoff(lease.leaseKey, 8)).toBe(false);
  });
});

describe('prompts that a lease of this worker may need its attention', () => {
  it('a handoff request for a lease it owns makes it read that lease; one for another worker’s lease, nothing', async () => {
    const lease = testLease({ leaseOwner: ME, leaseCounter: 4 });
    const hosted = new Map<string, HostedLease>([
      [
        lease.leaseKey,
        { state: 'owned', ownership: { namespace: 'app/stream', leaseKey: lease.leaseKey, leaseOwner: ME, leaseCounter: 4 } },
      ],
    ]);
    const { bus, asked } = member({ hosted, lease });
    bus.eventHandler!({ type: 'handoff-requested', leaseKey: lease.leaseKey, from: ME, to: 'worker-b' });
    bus.eventHandler!({ type: 'handoff-requested', leaseKey: lease.leaseKey, from: 'worker-c', to: 'worker-b' });
    bus.eventHandler!({ type: 'handoff-requested', leaseKey: 'shardId-999999999999', from: ME, to: 'worker-b' });
    await settle();
    expect(asked).toEqual([lease.leaseKey]);
  });

  it('a handover it may not act on now (draining, fenced, recovering) is left to the lease sync, which is told', async () => {
    const lease = testLease({ leaseOwner: ME, leaseCounter: 5 });
    const { bus, started, missed } = member({ lease, mayTake: () => false });
    bus.eventHandler!({ type: 'lease-released', leaseKey: lease.leaseKey, from: 'worker-b', to: ME, leaseCounter: 5 });
    await settle();
    expect(started).toEqual([]);
    expect(missed()).toBe(1);
  });

  it('a planned handoff that never announced itself tells the lease sync to check this worker’s leases', () => {
    const { fleetMember, missed, advance } = member();
    fleetMember.actOnMoves([{ leaseKey: 'shardId-000000000001', from: 'worker-b', to: ME, kind: 'handoff', leaseCounter: 4 }]);
    expect(fleetMember.expectsHandoff('shardId-000000000001', 5)).toBe(true);
    advance(11_000);
    fleetMember.forgetExpiredHandoffs();
    expect(missed()).toBe(0);
    advance(2_000);
    fleetMember.forgetExpiredHandoffs();
    expect(missed()).toBe(1);
    expect(fleetMember.expectsHandoff('shardId-000000000001', 5)).toBe(false);
  });
});

describe('worker-leaving about this worker (an operator drained it)', () => {
  it('reads its own record, and plans again at once should this worker lead, as for any drained worker', async () => {
    const { bus, fleetChanges, toldLeaving } = member();
    bus.eventHandler!({ type: 'worker-leaving', workerId: ME });
    await settle();
    expect({ fleetChanges: fleetChanges(), toldLeaving: toldLeaving() }).toEqual({ fleetChanges: 1, toldLeaving: 1 });
  });
});
