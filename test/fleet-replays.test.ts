import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { coordinationSubjects } from '@shoal/coordinator';
import { produceRecords } from '@shoal/local-stack';
import { describe, expect, it } from 'vitest';
import { overlappingSideEffects, sideEffectsBy } from './support/side-effects.js';
import { eventually, type TestStream } from './support/worker-harness.js';
import { NATS_URL, useWorkerProcesses } from './support/fleet-processes.js';
import type { WorkerProcess } from './support/worker-process.js';

/**
 * Someone who can read the application's NATS subjects (no DynamoDB access, no keys) records a
 * plan the leader signed when it revoked a worker, and publishes the same bytes again after that
 * worker came back (same worker id) and owns the lease again.
 */
const { local, spawn: spawnProcess, fleetView, cleanup } = useWorkerProcesses();

function spawn(stream: TestStream, workerId: string, sideEffectsFile: string): WorkerProcess {
  return spawnProcess(stream, workerId, { sideEffectsFile, recordDelayMs: 15, checkpointEveryBatch: true, logLevel: 'info' });
}

interface CapturedPlan {
  readonly data: Uint8Array;
  readonly moves: { leaseKey: string; from?: string; to: string; kind: string }[];
}

describe('a signed plan replayed by someone on NATS', () => {
  it('never makes two workers process the same shard at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-replay-'));
    cleanup(() => rmSync(dir, { recursive: true, force: true }));
    const sideEffects = join(dir, 'side-effects.log');
    const stream = await local.createTestStream(3);
    const view = await fleetView(stream);
    const raw: NatsConnection = await connect({ servers: NATS_URL, name: 'shoal-test-recorder' });
    cleanup(() => raw.close());
    const subjects = coordinationSubjects(stream.applicationName, stream.streamName);
    const captured: CapturedPlan[] = [];
    // The leader sends each worker its moves on the worker's own plan subject; rp-a's are replayed.
    raw.subscribe(subjects.plan('rp-a'), {
      callback: (error, msg) => {
        if (error) return;
        captured.push({ data: msg.data, moves: (JSON.parse(msg.string()) as { moves: CapturedPlan['moves'] }).moves });
      },
    });

    const producing = produceRecords({
      kinesis: local.stack().kinesis,
      streamName: stream.streamName,
      count: 12_000,
      batchSize: 10,
      pauseMs: 25,
      ledger: stream.ledger,
    });
    spawn(stream, 'rp-z', sideEffects);
    await eventually(async () => (await view.leaderId()) === 'rp-z', 'rp-z leads');
    spawn(stream, 'rp-a', sideEffects);
    await eventually(() => view.ownedEvenlyBy(['rp-z', 'rp-a'], [1, 2]), 'two workers');
    const victim = spawn(stream, 'rp-m', sideEffects);
    await eventually(() => view.ownedEvenlyBy(['rp-z', 'rp-a', 'rp-m'], [1]), 'balanced 1/1/1', 30_000);

    const replayable = async () => {
      const snapshot = await view.read();
      for (const lease of snapshot.leases.filter((candidate) => candidate.leaseOwner === 'rp-m')) {
        const plan = captured.find((c) =>
          c.moves.some((m) => m.kind === 'take' && m.leaseKey === lease.leaseKey && m.from === 'rp-m' && m.to === 'rp-a'),
        );
        if (plan) return { plan, lease };
      }
      return undefined;
    };
    let found = await replayable();
    for (let round = 0; round < 4 && !found; round += 1) {
      await eventually(
        () => victim.logs.filter((line) => line.msg === 'liveness now confirmed by leader grants').length > round,
        'the victim lives on grants',
        30_000,
      );
      // A pause past livenessFailoverMs (a GC pause, a stalled VM): the leader revokes the victim
      // and publishes a signed plan giving its lease to another worker.
      victim.child.kill('SIGSTOP');
      await eventually(async () => (await view.leasesPerOwner())['rp-m'] === undefined, 'the victim’s lease was taken', 30_000);
      victim.child.kill('SIGCONT');
      // It finds its record gone, registers again under the same id and gets a lease back.
      await eventually(async () => ((await view.leasesPerOwner())['rp-m'] ?? 0) === 1, 'the victim owns a lease again', 30_000);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      found = await replayable();
    }
    expect(found, 'a captured take plan for a lease the victim owns again').toBeDefined();
    const { plan, lease } = found!;

    // The victim is processing that shard now (its own, current epoch: its side effects on it
    // keep coming, whatever the size of the batch in hand). Replay the plan's bytes.
    const victimEffects = () => sideEffectsBy(sideEffects, lease.shardId, 'rp-m', lease.leaseCounter);
    await eventually(
      async () => {
        const before = victimEffects();
        await new Promise((resolve) => setTimeout(resolve, 200));
        return victimEffects() > before;
      },
      'victim busy on the shard',
      20_000,
    );
    raw.publish(subjects.plan('rp-a'), plan.data);
    await raw.flush();
    await eventually(
      async () => (await view.read()).leases.find((l) => l.leaseKey === lease.leaseKey)!.leaseOwner === 'rp-a',
      'the replayed plan moved the lease',
      10_000,
    ).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const after = (await view.read()).leases.find((l) => l.leaseKey === lease.leaseKey)!;
    const late = overlappingSideEffects(sideEffects);
    void producing.catch(() => undefined);
    // The replayed move names the epoch the leader saw when it revoked the victim, not the
    // victim's current one: nothing is taken, and no side effect overlaps.
    expect({
      epochBefore: lease.leaseCounter,
      ownerAfter: after.leaseOwner,
      epochAfter: after.leaseCounter,
      lateSideEffects: late.slice(0, 5),
    }).toEqual({
      epochBefore: lease.leaseCounter,
      ownerAfter: 'rp-m',
      epochAfter: lease.leaseCounter,
      lateSideEffects: [],
    });
  });
});
