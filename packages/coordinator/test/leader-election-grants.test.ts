import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaderElection } from '../src/leadership/leader-election.js';
import type { ConditionalWriteResult, LeadershipRecord } from '../src/lease-table/lease.js';
import type { LeaseStore } from '../src/lease-table/lease-store.js';

/** The leadership row in memory, counting how often it is read. */
class LeadershipRow {
  reads = 0;
  constructor(public row: LeadershipRecord) {}
  async getLeadership(): Promise<LeadershipRecord> {
    this.reads += 1;
    return this.row;
  }
  async claimLeadership(
    namespace: string,
    workerId: string,
    expected: LeadershipRecord,
  ): Promise<ConditionalWriteResult<LeadershipRecord>> {
    if (expected.term !== this.row.term || expected.heartbeat !== this.row.heartbeat) return { status: 'conflict' };
    this.row = { namespace, leaderId: workerId, term: expected.term + 1, heartbeat: 0 };
    return { status: 'applied', value: this.row };
  }
  async resignLeadership(): Promise<ConditionalWriteResult<void>> {
    return { status: 'applied', value: undefined };
  }
}

afterEach(() => void vi.useRealTimers());

function candidateOn(table: LeadershipRow): LeaderElection {
  return new LeaderElection({
    store: table as unknown as LeaseStore,
    namespace: 'app/stream',
    workerId: 'worker-a',
    leadershipDurationMs: 2_500,
    renewIntervalMs: 1_000,
    clock: { monotonic: () => Date.now(), now: () => Date.now(), sleep: () => new Promise(() => {}) },
    logger: pino({ level: 'silent' }),
  });
}

describe('LeaderElection followed through the leader’s grants', () => {
  it('reads nothing while grants show the row moving, and claims once they stop and one read finds the row still', async () => {
    vi.useFakeTimers();
    const table = new LeadershipRow({ namespace: 'app/stream', leaderId: 'leader', term: 3, heartbeat: 10 });
    const election = candidateOn(table);
    // Ten seconds of grants, four a second, each carrying the row as the leader last renewed it.
    for (let tick = 0; tick < 40; tick += 1) {
      if (tick % 4 === 0) table.row = { ...table.row, heartbeat: table.row.heartbeat + 1 };
      election.observeLeader(table.row, Date.now());
      await vi.advanceTimersByTimeAsync(250);
    }
    expect(table.reads).toBe(0);
    expect(election.liveLeaderId()).toBe('leader');
    expect(election.liveTerm()).toBe(3);
    // The leader dies: no more grants, the row stands still.
    await vi.advanceTimersByTimeAsync(2_500);
    expect(table.reads).toBe(1);
    expect(election.isLeader()).toBe(true);
    expect(table.row).toMatchObject({ leaderId: 'worker-a', term: 4 });
    await election.stop();
  });

  it('ignores a grant showing an older row than one already seen (grants can arrive out of order)', async () => {
    vi.useFakeTimers();
    const table = new LeadershipRow({ namespace: 'app/stream', leaderId: 'leader', term: 3, heartbeat: 10 });
    const election = candidateOn(table);
    election.observeLeader(table.row, Date.now());
    await vi.advanceTimersByTimeAsync(2_000);
    // The row moved on; a late grant with the old heartbeat must not push the expiry back.
    table.row = { ...table.row, heartbeat: 11 };
    election.observeLeader(table.row, Date.now());
    await vi.advanceTimersByTimeAsync(1_000);
    election.observeLeader({ ...table.row, heartbeat: 10 }, Date.now());
    await vi.advanceTimersByTimeAsync(1_600);
    // 2.5 s after the newest row was seen, it is read once and claimed.
    expect(table.reads).toBe(1);
    expect(election.isLeader()).toBe(true);
    await election.stop();
  });

  it('does not claim a row that moved on though no grant showed it (the leader lives, its grants went elsewhere)', async () => {
    vi.useFakeTimers();
    const table = new LeadershipRow({ namespace: 'app/stream', leaderId: 'leader', term: 3, heartbeat: 10 });
    const election = candidateOn(table);
    election.observeLeader(table.row, Date.now());
    table.row = { ...table.row, heartbeat: 14 };
    await vi.advanceTimersByTimeAsync(2_600);
    expect(table.reads).toBe(1);
    expect(election.isLeader()).toBe(false);
    expect(election.liveLeaderId()).toBe('leader');
    await election.stop();
  });
});
