import { produceRecords } from '@shoal/local-stack';
import { describe, expect, it } from 'vitest';
import { NATS_URL, useWorkerProcesses } from './support/fleet-processes.js';
import { PrivateNatsServer } from './support/private-nats.js';
import { eventually, type TestStream } from './support/worker-harness.js';
import type { WorkerProcess } from './support/worker-process.js';

/**
 * Real worker processes coordinating over the shared NATS server (or one of the test's own),
 * with records produced throughout. Every test checks that every record was processed and
 * counts duplicates.
 */
const { local, spawn: spawnProcess, fleetView, cleanup } = useWorkerProcesses();

function spawn(stream: TestStream, workerId: string, natsUrl = NATS_URL): WorkerProcess {
  return spawnProcess(stream, workerId, { natsUrl });
}

function produce(stream: TestStream, count: number) {
  return produceRecords({
    kinesis: local.stack().kinesis,
    streamName: stream.streamName,
    count,
    batchSize: 25,
    pauseMs: 20,
    ledger: stream.ledger,
  });
}

function ownedBy(counts: Record<string, number>, ...workerIds: string[]): number[] {
  return workerIds.map((id) => counts[id] ?? 0);
}

async function expectAllProcessed(stream: TestStream): Promise<{ duplicates: number }> {
  expect(await stream.ledger.waitForAllProcessed(30_000)).toBe(true);
  const summary = stream.ledger.summary();
  expect(summary.lost).toBe(0);
  return summary;
}

describe('a fleet of worker processes', () => {
  it('settles at 2/2 on 4 shards, and rebalances when a third worker joins, without duplicates', async () => {
    const stream = await local.createTestStream(4);
    const view = await fleetView(stream);
    spawn(stream, 'fleet-a');
    spawn(stream, 'fleet-b');
    const producing = produce(stream, 4_000);
    await eventually(
      async () => ownedBy(await view.leasesPerOwner(), 'fleet-a', 'fleet-b').join() === '2,2',
      'two workers hold 2 leases each',
    );

    spawn(stream, 'fleet-c');
    await eventually(async () => {
      const counts = ownedBy(await view.leasesPerOwner(), 'fleet-a', 'fleet-b', 'fleet-c');
      return counts.every((count) => count >= 1) && counts.reduce((sum, count) => sum + count, 0) === 4;
    }, 'the third worker got its share');
    await producing;
    const { duplicates } = await expectAllProcessed(stream);
    expect(duplicates).toBe(0);
  });

  it('hands a SIGTERMed worker’s leases to the others with nothing lost or repeated', async () => {
    const stream = await local.createTestStream(4);
    const view = await fleetView(stream);
    const leaving = spawn(stream, 'term-a');
    spawn(stream, 'term-b');
    const producing = produce(stream, 4_000);
    await eventually(async () => ownedBy(await view.leasesPerOwner(), 'term-a', 'term-b').join() === '2,2', 'balanced at 2/2');
    await eventually(() => stream.ledger.processedCount >= 500, 'part of the stream was processed');
    // Let both of its leases reach processing (a lease handed over a moment ago may still be starting).
    await eventually(() => new Set(leaving.batches.slice(-20).map((batch) => batch.shardId)).size === 2, 'it processes both of its leases');

    leaving.child.kill('SIGTERM');
    expect(await leaving.exited).toBe(0);
    const shutdowns = leaving.events.filter((event) => event.startsWith('shutdown-requested') && event.endsWith('worker-shutdown'));
    expect(shutdowns).toHaveLength(2);
    await eventually(async () => ownedBy(await view.leasesPerOwner(), 'term-b')[0] === 4, 'the remaining worker holds all 4 leases');
    await producing;
    const { duplicates } = await expectAllProcessed(stream);
    expect(duplicates).toBe(0);
  });

  it('fails a SIGKILLed worker’s leases over to the survivor; nothing is lost', async () => {
    const stream = await local.createTestStream(4);
    const view = await fleetView(stream);
    const victim = spawn(stream, 'kill-a');
    spawn(stream, 'kill-b');
    const producing = produce(stream, 4_000);
    await eventually(async () => ownedBy(await view.leasesPerOwner(), 'kill-a', 'kill-b').join() === '2,2', 'balanced at 2/2');
    await eventually(() => stream.ledger.processedCount >= 500, 'part of the stream was processed');

    victim.child.kill('SIGKILL');
    await victim.exited;
    await eventually(async () => ownedBy(await view.leasesPerOwner(), 'kill-b')[0] === 4, 'the survivor holds all 4 leases');
    await producing;
    const { duplicates } = await expectAllProcessed(stream);
    // Only what the victim processed after its last checkpoint may be seen twice: its last batch
    // on each shard (it checkpoints after every batch, and takes the next only then).
    const lastBatches = new Map(victim.batches.map((batch) => [batch.shardId, batch]));
    const uncheckpointed = new Set([...lastBatches.values()].flatMap((batch) => batch.ids));
    const repeated = victim.batches.flatMap((batch) => batch.ids).filter((id) => stream.ledger.timesProcessed(id) > 1);
    expect(repeated.filter((id) => !uncheckpointed.has(id))).toEqual([]);
    expect(duplicates).toBe(repeated.length);
  });

  it('a worker paused past failover (SIGSTOP) processes nothing of the leases it lost once resumed (SIGCONT)', async () => {
    const stream = await local.createTestStream(4);
    const view = await fleetView(stream);
    const paused = spawn(stream, 'pause-a');
    spawn(stream, 'pause-b');
    const producing = produce(stream, 5_000);
    await eventually(async () => ownedBy(await view.leasesPerOwner(), 'pause-a', 'pause-b').join() === '2,2', 'balanced at 2/2');
    await eventually(() => stream.ledger.processedCount >= 500, 'part of the stream was processed');

    paused.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await eventually(async () => ownedBy(await view.leasesPerOwner(), 'pause-b')[0] === 4, 'the other worker took every lease');
    paused.child.kill('SIGCONT');
    const resumedAt = Date.now();
    await producing;
    await expectAllProcessed(stream);

    // Batches it held when paused may finish; anything it starts later must be a lease it got again.
    const afterResume = paused.batches.filter((batch) => batch.at > resumedAt);
    const repeated = afterResume.flatMap((batch) => batch.ids).filter((id) => stream.ledger.timesProcessed(id) > 1);
    expect(repeated).toEqual([]);
    expect(paused.batches.filter((batch) => batch.at > stoppedAt && batch.at <= resumedAt)).toEqual([]);
  });

  it('stays correct through a NATS outage: processing goes on, nothing is lost or repeated', async () => {
    const nats = await PrivateNatsServer.start();
    cleanup(() => nats.stop());
    const stream = await local.createTestStream(4);
    const view = await fleetView(stream);
    spawn(stream, 'outage-a', nats.url);
    spawn(stream, 'outage-b', nats.url);
    const producing = produce(stream, 6_000);
    await eventually(async () => ownedBy(await view.leasesPerOwner(), 'outage-a', 'outage-b').join() === '2,2', 'balanced at 2/2');

    await nats.stop();
    const before = stream.ledger.processedCount;
    await eventually(() => stream.ledger.processedCount >= before + 500, 'records are processed while NATS is down');
    await nats.resume();
    await producing;
    const { duplicates } = await expectAllProcessed(stream);
    expect(duplicates).toBe(0);
    const counts = await view.leasesPerOwner();
    expect(ownedBy(counts, 'outage-a', 'outage-b').reduce((sum, count) => sum + count, 0)).toBe(4);
  });
});
