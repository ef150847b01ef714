import {
  LeaderElection,
  LivenessGrants,
  signed,
  type ConditionalWriteResult,
  type LeadershipRecord,
  type LeaseStore,
} from '@shoal/coordinator';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { instantOf } from '../src/clock.js';
import { WorkerLiveness } from '../src/fleet/liveness/worker-liveness.js';
import { VirtualClock } from './fakes/virtual-clock.js';

/**
 * The leadership row in memory. Claims apply at once; every renewal applies and is answered
 * `renewLatencyMs` later (a slow DynamoDB answer), which the docs say the term survives up to 1 s.
 */
class SlowRenewals {
  row: LeadershipRecord | undefined;
  constructor(
    private readonly clock: VirtualClock,
    private readonly renewLatencyMs: number,
  ) {}
  async claimLeadership(
    namespace: string,
    workerId: string,
    expected: LeadershipRecord | undefined,
  ): Promise<ConditionalWriteResult<LeadershipRecord>> {
    this.row = { namespace, leaderId: workerId, term: (expected?.term ?? 0) + 1, heartbeat: 0 };
    return { status: 'applied', value: this.row };
  }
  async renewLeadership(held: LeadershipRecord): Promise<ConditionalWriteResult<LeadershipRecord>> {
    this.row = { ...held, heartbeat: held.heartbeat + 1 };
    const row = this.row;
    await this.clock.sleep(this.renewLatencyMs);
    return { status: 'applied', value: row };
  }
  async resignLeadership(): Promise<ConditionalWriteResult<void>> {
    return { status: 'applied', value: undefined };
  }
}

const elections: { election: LeaderElection; clock: VirtualClock }[] = [];
afterEach(async () => {
  for (const { election, clock } of elections.splice(0)) {
    const stopped = election.stop();
    await clock.runUntil(clock.monotonic() + 5_000);
    await stopped;
  }
});

/**
 * One leader (defaults: leadership 2.5 s, renew 1 s, grants 1.5 s, failover 2 s) and workers that
 * ask for a grant every 250 ms on their own phase, answered over a 5 ms round trip.
 * Returns, per worker phase, whether its chain of grants broke, and whether the term ever lapsed.
 */
async function simulate(renewLatencyMs: number, phasesMs: readonly number[]) {
  const clock = new VirtualClock();
  const store = new SlowRenewals(clock, renewLatencyMs);
  const deposed: string[] = [];
  const grants = new LivenessGrants({ grantValidForMs: 1_500, revokeAfterMs: 2_000, monotonicNow: clock.monotonic });
  const election = new LeaderElection({
    store: store as unknown as LeaseStore,
    namespace: 'app/stream',
    workerId: 'leader',
    leadershipDurationMs: 2_500,
    renewIntervalMs: 1_000,
    clock,
    logger: pino({ level: 'silent' }),
    onElected: (term) => grants.startTerm(term),
    onDeposed: (reason) => void deposed.push(reason),
  });
  elections.push({ election, clock });
  election.start();
  await election.observe(undefined, clock.monotonic());
  expect(election.isLeader()).toBe(true);

  const workers = phasesMs.map((phase, index) => ({
    phase,
    id: `worker-${index}`,
    key: `key-${index}`,
    seq: 0,
    liveness: new WorkerLiveness(10_000, clock),
    lapsedAt: undefined as number | undefined,
  }));
  const RTT_MS = 5;
  // Requests and their answers, as events in virtual time.
  const events: { at: number; run: () => void }[] = [];
  for (const worker of workers) {
    for (let at = worker.phase; at < 6_000; at += 250) {
      events.push({
        at,
        run: () => {
          const requestedAt = instantOf(clock);
          worker.seq += 1;
          const request = signed({ workerId: worker.id, seq: worker.seq }, worker.key);
          const reply = election.isLeader() ? grants.grant(request, worker.key, election.remainingMs()) : undefined;
          if (!reply?.granted) return;
          events.push({
            at: at + RTT_MS,
            run: () => {
              worker.liveness.grant(requestedAt, reply.validForMs, reply.term);
              if (worker.liveness.mode === 'table') worker.liveness.enterNats();
            },
          });
        },
      });
    }
  }
  let termEverLapsed = false;
  for (let at = 0; at <= 6_000; at += 1) {
    await clock.runUntil(at);
    for (const event of events.filter((e) => e.at === at)) event.run();
    if (!election.isLeader()) termEverLapsed = true;
    for (const worker of workers) {
      if (at > 1_000 && worker.lapsedAt === undefined && worker.liveness.grantsLapsed()) worker.lapsedAt = at;
    }
  }
  return { workers: workers.map((w) => ({ phase: w.phase, lapsedAt: w.lapsedAt })), termEverLapsed, deposed };
}

describe('a slow leadership renewal', () => {
  it('a renewal answered 700 ms late costs nothing (control)', async () => {
    const result = await simulate(700, [0, 60, 120, 180]);
    expect(result.termEverLapsed).toBe(false);
    expect(result.workers.every((w) => w.lapsedAt === undefined)).toBe(true);
  });

  it('a renewal answered 900 ms late (within the documented 1 s) keeps every worker processing', async () => {
    const result = await simulate(900, [0, 60, 120, 180]);
    // The leader never stops leading: by the docs a renewal may be up to 1 s late ...
    expect(result.termEverLapsed).toBe(false);
    expect(result.deposed).toEqual([]);
    // ... but every grant given while the renewal is in flight is cut to what remains of the term,
    // so a worker whose next request comes after the old term's end loses its chain: it stops
    // processing, writes liveness = table, and later switches back (a pause and 2 writes per
    // worker, at every such renewal).
    const broken = result.workers.filter((w) => w.lapsedAt !== undefined);
    expect(broken).toEqual([]);
  });
});
