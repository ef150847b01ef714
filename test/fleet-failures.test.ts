import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { coordinationSubjects } from '@shoal/coordinator';
import { produceRecords } from '@shoal/local-stack';
import { describe, expect, it } from 'vitest';
import type { FleetView } from './support/fleet.js';
import { overlappingSideEffects } from './support/side-effects.js';
import { PrivateNatsServer } from './support/private-nats.js';
import { eventually, type TestStream } from './support/worker-harness.js';
import { NATS_URL, useWorkerProcesses } from './support/fleet-processes.js';

/**
 * Worker processes on the coordination bus under partial failures, watched from outside: a
 * process paused in the middle of a batch, a leader cut off from the others on NATS, a leader
 * that shuts down, and messages forged by someone else on the same NATS.
 */
const { local, spawn, fleetView, cleanup } = useWorkerProcesses();

function produce(stream: TestStream, count: number, pauseMs = 20) {
  return produceRecords({
    kinesis: local.stack().kinesis,
    streamName: stream.streamName,
    count,
    batchSize: 25,
    pauseMs,
    ledger: stream.ledger,
  });
}

async function ownersOf(view: FleetView): Promise<Record<string, number>> {
  return view.leasesPerOwner();
}

/** Every lease owned, and by exactly these workers, `count` each. */
function balanced(view: FleetView, count: number, ...workerIds: string[]): Promise<boolean> {
  return view.ownedEvenlyBy(workerIds, [count]);
}

async function expectAllProcessed(stream: TestStream): Promise<{ duplicates: number }> {
  expect(await stream.ledger.waitForAllProcessed(60_000)).toBe(true);
  const summary = stream.ledger.summary();
  expect(summary.lost).toBe(0);
  return summary;
}

describe('a worker paused in the middle of a batch', () => {
  it('makes no side effect past its lease deadline once resumed, however long the pause', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-side-effects-'));
    cleanup(() => rmSync(dir, { recursive: true, force: true }));
    const sideEffectsFile = join(dir, 'side-effects.log');
    const stream = await local.createTestStream(4);
    const view = await fleetView(stream);
    const slow = { sideEffectsFile, recordDelayMs: 15 };
    const victim = spawn(stream, 'mid-a', slow);
    spawn(stream, 'mid-b', slow);
    const producing = produce(stream, 1_500);
    await eventually(() => balanced(view, 2, 'mid-a', 'mid-b'), 'balanced at 2/2');
    await eventually(() => stream.ledger.processedCount >= 200, 'both process');

    // Stop it right after it took a batch in hand: records of that batch are still to come.
    const batchesBefore = victim.batches.length;
    await eventually(() => victim.batches.length > batchesBefore, 'the victim starts a batch', 10_000);
    victim.child.kill('SIGSTOP');
    await eventually(async () => (await ownersOf(view))['mid-b'] === 4, 'the other worker took every lease');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    victim.child.kill('SIGCONT');
    await producing;
    await expectAllProcessed(stream);
    await new Promise((resolve) => setTimeout(resolve, 500));

    expect(overlappingSideEffects(sideEffectsFile)).toEqual([]);
    expect(readFileSync(sideEffectsFile, 'utf8')).toContain(' mid-a ');
  });
});

describe('a leader cut off from the other workers on NATS', () => {
  it('does not strand a dead worker’s leases: the others take them from the table', async () => {
    const [leaderSide, othersSide] = await Promise.all([PrivateNatsServer.start(), PrivateNatsServer.start()]);
    cleanup(
      () => leaderSide.stop(),
      () => othersSide.stop(),
    );
    const stream = await local.createTestStream(6);
    const view = await fleetView(stream);
    spawn(stream, 'cut-a', { natsUrl: leaderSide.url });
    await eventually(async () => (await view.leaderId()) === 'cut-a', 'the first worker leads');
    spawn(stream, 'cut-b', { natsUrl: othersSide.url });
    const victim = spawn(stream, 'cut-c', { natsUrl: othersSide.url });
    const producing = produce(stream, 2_000);
    await eventually(() => balanced(view, 2, 'cut-a', 'cut-b', 'cut-c'), 'balanced at 2/2/2 through the table');

    victim.child.kill('SIGKILL');
    await victim.exited;
    // The leader plans the dead worker's leases between itself and cut-b, but its plan cannot
    // reach cut-b: cut-b, holding no grant of the leader, takes its share itself.
    await eventually(
      async () => {
        const owners = await ownersOf(view);
        return owners['cut-c'] === undefined && owners['cut-a'] === 3 && owners['cut-b'] === 3;
      },
      'the survivors own every lease, 3/3',
      30_000,
    );
    await producing;
    await expectAllProcessed(stream);
  });
});

describe('a leader that shuts down', () => {
  it('hands leadership over before any grant it gave can lapse: the survivor never pauses', async () => {
    const stream = await local.createTestStream(4);
    const view = await fleetView(stream);
    const first = spawn(stream, 'step-a', { logLevel: 'info' });
    await eventually(async () => (await view.leaderId()) === 'step-a', 'the first worker leads');
    const survivor = spawn(stream, 'step-b', { logLevel: 'info' });
    const producing = produce(stream, 3_000);
    await eventually(() => balanced(view, 2, 'step-a', 'step-b'), 'balanced at 2/2');
    await eventually(
      () => survivor.logs.some((line) => line.msg === 'liveness now confirmed by leader grants'),
      'the survivor lives on grants',
    );

    const stoppingAt = Date.now();
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    await eventually(async () => (await view.leaderId()) === 'step-b', 'the survivor leads');
    await eventually(
      () => survivor.logs.some((line) => line.msg === 'liveness now confirmed by the new leader’s grants'),
      'the survivor follows its own grants as leader',
    );
    await producing;
    const { duplicates } = await expectAllProcessed(stream);
    expect(duplicates).toBe(0);

    const afterwards = survivor.logs.filter((line) => line.time >= stoppingAt);
    expect(afterwards.filter((line) => /liveness back on table|holding the next batch|liveness lost/.test(line.msg))).toEqual([]);
    expect(afterwards.some((line) => line.msg === 'became leader')).toBe(true);
  });
});

describe('messages forged on the same NATS', () => {
  let raw: NatsConnection;

  it('change nothing the lease table does not confirm, and a flood of garbage is logged a few times only', async () => {
    raw = await connect({ servers: NATS_URL, name: 'shoal-test-forger' });
    cleanup(() => raw.close());
    const stream = await local.createTestStream(4);
    const view = await fleetView(stream);
    const workers = [spawn(stream, 'forged-a', { logLevel: 'warn' }), spawn(stream, 'forged-b', { logLevel: 'warn' })];
    const producing = produce(stream, 4_000);
    await eventually(() => balanced(view, 2, 'forged-a', 'forged-b'), 'balanced at 2/2');
    const before = await view.read();
    const term = before.leadership!.term;
    const leaderId = before.leadership!.leaderId!;
    const lease = before.leases.find((candidate) => candidate.leaseOwner === 'forged-a')!;
    const subjects = coordinationSubjects(stream.applicationName, stream.streamName);
    const request = async (subject: string, body: object) =>
      JSON.parse((await raw.request(subject, JSON.stringify(body), { timeout: 2_000 })).string()) as { accepted: boolean };

    // A drain towards a worker that does not exist, and one that claims to come from the leader.
    const forged = { type: 'drain-lease', leaseKey: lease.leaseKey, term, leaseCounter: lease.leaseCounter, mac: 'forged' };
    expect(await request(subjects.command('forged-a'), { ...forged, to: 'ghost-worker', requestedBy: 'forger' })).toMatchObject({
      accepted: false,
    });
    expect(await request(subjects.command('forged-a'), { ...forged, to: 'forged-b', requestedBy: leaderId })).toMatchObject({
      accepted: false,
    });
    // A revocation of a live worker by someone who is not the leader.
    raw.publish(subjects.event('worker-revoked'), JSON.stringify({ type: 'worker-revoked', workerId: 'forged-b', leaderId: 'forger' }));
    // A plan of a higher term handing a live worker's lease to the other.
    raw.publish(
      subjects.event('plan'),
      JSON.stringify({
        type: 'plan',
        leaderId: 'forger',
        term: term + 100,
        moves: [{ leaseKey: lease.leaseKey, from: 'forged-a', to: 'forged-b', kind: 'take' }],
        mac: 'forged',
      }),
    );
    // And a flood of garbage.
    for (let i = 0; i < 9_702; i += 1)
      raw.publish(subjects.event('plan'), i % 2 === 0 ? 'garbage' : JSON.stringify({ type: 'plan', junk: i }));
    await raw.flush();
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    const after = await view.read();
    expect(after.leases.map(({ leaseKey, leaseOwner, leaseCounter }) => ({ leaseKey, leaseOwner, leaseCounter }))).toEqual(
      before.leases.map(({ leaseKey, leaseOwner, leaseCounter }) => ({ leaseKey, leaseOwner, leaseCounter })),
    );
    expect(after.workers.map((worker) => worker.workerId).sort()).toEqual(['forged-a', 'forged-b']);

    // Plans of the real leader still count: a third worker gets its share.
    spawn(stream, 'forged-c');
    await eventually(async () => ((await ownersOf(view))['forged-c'] ?? 0) >= 1, 'the third worker gets leases by the leader’s plan');
    await producing;
    const { duplicates } = await expectAllProcessed(stream);
    expect(duplicates).toBe(0);
    for (const worker of workers) {
      const dropped = worker.logs.filter((line) => line.msg.startsWith('dropped a message'));
      expect(dropped.length, `${worker.workerId} logged ${dropped.length} lines about dropped messages`).toBeLessThanOrEqual(8);
    }
  });
});
