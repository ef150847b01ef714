import { produceRecords } from '@shoal/local-stack';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, ownedLeaseCount, useLocalStack } from './support/worker-harness.js';
import { spawnWorkerProcess, type WorkerProcess } from './support/worker-process.js';

const local = useLocalStack();
const processes: WorkerProcess[] = [];

afterEach(async () => {
  for (const { child, exited } of processes.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
});

describe('a worker process', () => {
  it('on SIGTERM drains every lease through shutdownRequested and exits; a successor repeats nothing', async () => {
    const stream = await local.createTestStream(2);
    const stack = local.stack();
    const first = spawnWorkerProcess(stack, stream, 'process-a');
    processes.push(first);
    await eventually(() => first.events.includes('started'), 'the worker process started');

    const producing = produceRecords({
      kinesis: stack.kinesis,
      streamName: stream.streamName,
      count: 2_000,
      batchSize: 50,
      pauseMs: 10,
      ledger: stream.ledger,
    });
    await eventually(() => stream.ledger.processedCount >= 500, 'the process consumed part of the stream');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.events.filter((event) => event.startsWith('shutdown-requested')).sort()).toEqual([
      'shutdown-requested shardId-000000000000 worker-shutdown',
      'shutdown-requested shardId-000000000001 worker-shutdown',
    ]);
    expect(first.events.at(-1)).toBe('stopped');
    await producing;

    const successor = await stream.createWorker({ workerId: 'successor' });
    void successor.run();
    await eventually(() => ownedLeaseCount(successor) === 2, 'the successor owns both leases');
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    expect(stream.ledger.summary()).toMatchObject({ produced: 2_000, lost: 0, duplicates: 0 });
  });
});
