import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDbLeaseStore,
  LeaderElection,
  leaseNamespace,
  type ConditionalWriteResult,
  type ElectionClock,
  type LeadershipRecord,
} from '@shoal/coordinator';
import { LocalStack, uniqueName } from '@shoal/local-stack';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '@shoal/runtime';

// LeaderElection on the real clock against dynalite (LocalStack): several candidates share one
// namespace, each fed by its own polling loop over readNamespace, as workers feed it from their
// lease sync. Timing assertions are ordering-based or generous; the figures live in bench/.

const POLL_MS = 40;
const SAMPLE_MS = 5;

interface LogLine {
  level: number;
  msg: string;
  workerId?: string;
}

let stack: LocalStack;
const clients: DynamoDBClient[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  stack = await LocalStack.start();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const client of clients.splice(0)) client.destroy();
});

afterAll(async () => {
  await stack?.stop();
});

const realClock: ElectionClock = { monotonic: () => performance.now(), now: () => Date.now(), sleep };

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(10);
  }
}

/** A lease store whose renewals can be made to fail, as for a leader that stopped renewing. */
class AbandonableStore extends DynamoDbLeaseStore {
  abandoned = false;

  override renewLeadership(held: LeadershipRecord): Promise<ConditionalWriteResult<LeadershipRecord>> {
    if (this.abandoned) return Promise.reject(new Error('renewals abandoned by the test'));
    return super.renewLeadership(held);
  }
}

interface Candidate {
  readonly workerId: string;
  readonly store: AbandonableStore;
  readonly election: LeaderElection;
  readonly elected: { at: number; term: LeadershipRecord; replaced: LeadershipRecord | undefined }[];
  readonly deposed: { at: number; reason: string }[];
  /** Stops feeding the election (the worker's lease sync stops). */
  stopPolling(): Promise<void>;
}

interface Fleet {
  readonly namespace: string;
  readonly candidates: Candidate[];
  readonly logs: LogLine[];
  readonly pollErrors: unknown[];
  /** Samples taken while the fleet ran: how many candidates reported isLeader() at once. */
  readonly samples: { at: number; leaders: string[] }[];
  leaders(): Candidate[];
}

interface Durations {
  readonly leadershipDurationMs: number;
  readonly renewIntervalMs: number;
}

/** Starts `count` candidates on one fresh table and namespace, each with its own client and poller. */
async function startFleet(count: number, durations: Durations): Promise<Fleet> {
  const tableName = uniqueName('leases');
  const namespace = leaseNamespace(uniqueName('app'), 'orders');
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  const pollErrors: unknown[] = [];
  const candidates: Candidate[] = [];

  for (let i = 0; i < count; i++) {
    const client = new DynamoDBClient(stack.clientConfig('dynamodb'));
    clients.push(client);
    const store = new AbandonableStore({ client, tableName });
    if (i === 0) await store.ensureTable();
    const workerId = `candidate-${i}`;
    const elected: Candidate['elected'] = [];
    const deposed: Candidate['deposed'] = [];
    const election = new LeaderElection({
      store,
      namespace,
      workerId,
      ...durations,
      clock: realClock,
      logger: logger.child({ workerId }),
      onElected: (term, replaced) => elected.push({ at: performance.now(), term, replaced }),
      onDeposed: (reason) => deposed.push({ at: performance.now(), reason }),
    });
    const poller = new AbortController();
    const polling = (async () => {
      while (!poller.signal.aborted) {
        try {
          const snapshot = await store.readNamespace(namespace);
          if (poller.signal.aborted) break;
          await election.observe(snapshot.leadership, performance.now());
        } catch (error) {
          pollErrors.push(error);
        }
        await sleep(POLL_MS, poller.signal).catch(() => undefined);
      }
    })();
    const stopPolling = async (): Promise<void> => {
      poller.abort();
      await polling;
    };
    election.start();
    const candidate: Candidate = { workerId, store, election, elected, deposed, stopPolling };
    candidates.push(candidate);
    cleanups.push(async () => {
      await stopPolling();
      await election.stop();
    });
  }

  const samples: Fleet['samples'] = [];
  const leaders = (): Candidate[] => candidates.filter((candidate) => candidate.election.isLeader());
  const sampler = setInterval(() => samples.push({ at: performance.now(), leaders: leaders().map((c) => c.workerId) }), SAMPLE_MS);
  cleanups.push(() => clearInterval(sampler));
  return { namespace, candidates, logs, pollErrors, samples, leaders };
}

function overlaps(fleet: Fleet): { at: number; leaders: string[] }[] {
  return fleet.samples.filter((sample) => sample.leaders.length > 1);
}

async function electedLeader(fleet: Fleet): Promise<Candidate> {
  await waitFor(() => fleet.leaders().length === 1, 'a leader is elected');
  return fleet.leaders()[0]!;
}

describe('LeaderElection on the lease table (real clock)', () => {
  const fast: Durations = { leadershipDurationMs: 600, renewIntervalMs: 150 };

  it('elects exactly one of three candidates and keeps it while it renews', async () => {
    const fleet = await startFleet(3, fast);
    const leader = await electedLeader(fleet);
    // Several leadership durations of steady state.
    await sleep(4 * fast.leadershipDurationMs);

    expect(overlaps(fleet)).toEqual([]);
    expect(fleet.samples.length).toBeGreaterThan(100);
    const followers = fleet.candidates.filter((candidate) => candidate !== leader);
    // Every election so far was won on an empty row, by one candidate.
    const elections = fleet.candidates.flatMap((candidate) => candidate.elected);
    expect(elections.length).toBeGreaterThanOrEqual(1);
    expect(elections[0]).toMatchObject({ term: { leaderId: leader.workerId, term: 1 }, replaced: undefined });
    for (const follower of followers) expect(follower.elected).toEqual([]);

    expect(leader.election.isLeader()).toBe(true);
    expect(leader.election.term()).toMatchObject({ leaderId: leader.workerId, term: 1 });
    expect(leader.election.remainingMs()).toBeGreaterThan(0);
    expect(leader.election.remainingMs()).toBeLessThanOrEqual(fast.leadershipDurationMs - fast.renewIntervalMs / 2);
    expect(leader.election.liveLeaderId()).toBe(leader.workerId);
    for (const follower of followers) {
      expect(follower.election.isLeader()).toBe(false);
      expect(follower.election.term()).toBeUndefined();
      expect(follower.election.remainingMs()).toBe(0);
      expect(follower.election.liveLeaderId()).toBe(leader.workerId);
    }
    // The row moved: the leader renewed all along.
    const row = (await leader.store.readNamespace(fleet.namespace)).leadership;
    expect(row).toMatchObject({ leaderId: leader.workerId, term: 1 });
    expect(row!.heartbeat).toBeGreaterThan(5);
    expect(fleet.pollErrors).toEqual([]);
  });

  it('hands leadership over quickly when the leader stops (resigns)', async () => {
    // A long duration, so a handover well under it can only come from the resignation.
    const slow: Durations = { leadershipDurationMs: 2_000, renewIntervalMs: 400 };
    const fleet = await startFleet(3, slow);

    const first = await electedLeader(fleet);
    const stoppedAt = performance.now();
    await first.election.stop();
    await first.stopPolling();
    expect(first.election.isLeader()).toBe(false);
    expect(first.deposed).toMatchObject([{ reason: 'resigned' }]);

    await waitFor(() => fleet.leaders().length === 1, 'a second leader after the resignation', 3 * slow.leadershipDurationMs);
    const second = fleet.leaders()[0]!;
    expect(second).not.toBe(first);
    const secondElected = second.elected.at(-1)!;
    expect(secondElected.at - stoppedAt).toBeLessThan(slow.leadershipDurationMs / 2);
    expect(first.deposed[0]!.at).toBeLessThan(secondElected.at);
    // The row was left vacant: the successor claimed it at once, replacing nobody.
    expect(secondElected.replaced?.leaderId).toBeUndefined();
    expect(secondElected.replaced?.term).toBe(first.elected.at(-1)!.term.term);

    // And once more, to the last candidate.
    const secondStoppedAt = performance.now();
    await second.election.stop();
    await second.stopPolling();
    await waitFor(() => fleet.leaders().length === 1, 'a third leader after the second resignation', 3 * slow.leadershipDurationMs);
    const third = fleet.leaders()[0]!;
    expect([first, second]).not.toContain(third);
    expect(third.elected.at(-1)!.at - secondStoppedAt).toBeLessThan(slow.leadershipDurationMs / 2);
    expect(second.deposed.at(-1)!.at).toBeLessThan(third.elected.at(-1)!.at);

    expect(overlaps(fleet)).toEqual([]);
    expect(fleet.pollErrors).toEqual([]);
  });

  it('after a leader stops renewing without resigning, it steps down before another takes over after about the duration', async () => {
    const fleet = await startFleet(3, fast);
    const old = await electedLeader(fleet);
    const oldTerm = old.election.term()!;
    // Let it renew a few times first.
    await sleep(3 * fast.renewIntervalMs);
    expect(old.election.isLeader()).toBe(true);

    // Abandoned: its renewals fail from now on and nothing feeds it reads any more.
    old.store.abandoned = true;
    await old.stopPolling();
    const abandonedAt = performance.now();

    await waitFor(
      () => fleet.candidates.some((candidate) => candidate !== old && candidate.election.isLeader()),
      'another candidate takes over',
      10 * fast.leadershipDurationMs,
    );
    const successor = fleet.candidates.find((candidate) => candidate !== old && candidate.election.isLeader())!;
    const takeover = successor.elected.at(-1)!;

    // The old leader gave up on its own, before the successor was elected.
    expect(old.election.isLeader()).toBe(false);
    expect(old.deposed).toMatchObject([{ reason: 'leadership not renewed in time' }]);
    expect(old.deposed[0]!.at).toBeLessThan(takeover.at);
    expect(overlaps(fleet)).toEqual([]);

    // The successor waited for the row to stand still (roughly a duration), and replaced the old term.
    const gap = takeover.at - abandonedAt;
    expect(gap).toBeGreaterThan(fast.leadershipDurationMs / 4);
    expect(gap).toBeLessThan(8 * fast.leadershipDurationMs);
    expect(takeover.replaced).toMatchObject({ leaderId: old.workerId, term: oldTerm.term });
    expect(takeover.term).toMatchObject({ leaderId: successor.workerId, term: oldTerm.term + 1, heartbeat: 0 });
    expect(
      fleet.logs.some((line) => line.level === 40 && line.msg === 'could not renew leadership' && line.workerId === old.workerId),
    ).toBe(true);

    // The third candidate follows the successor.
    const bystander = fleet.candidates.find((candidate) => candidate !== old && candidate !== successor)!;
    await waitFor(() => bystander.election.liveLeaderId() === successor.workerId, 'the bystander sees the successor');
    expect(bystander.elected).toEqual([]);

    // Later samples still show one leader at a time.
    await sleep(2 * fast.leadershipDurationMs);
    expect(overlaps(fleet)).toEqual([]);
    expect(fleet.leaders().map((candidate) => candidate.workerId)).toEqual([successor.workerId]);
    expect(fleet.pollErrors).toEqual([]);
  });
});
