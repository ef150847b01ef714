import { produceRecords } from '@shoal/local-stack';
import type { WorkerOptions } from '@shoal/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { shoalInProcess } from './support/run-cli.js';
import { eventually, ownedLeaseCount, useLocalStack, type TestStream } from './support/worker-harness.js';

/** `shoal drain` on a running fleet, with and without the coordination bus. */
const local = useLocalStack();
const streams: TestStream[] = [];

afterEach(async () => {
  for (const stream of streams.splice(0)) await stream.close();
});

const shoal = shoalInProcess;

describe('shoal drain', () => {
  for (const [mode, options] of [
    ['on the coordination bus', { nats: { servers: '127.0.0.1:4222' } }],
    ['through the lease table alone', {}],
  ] as const satisfies readonly (readonly [string, Partial<WorkerOptions>])[]) {
    it(`moves every lease off a worker while records flow, and the worker stays up holding nothing (${mode})`, async () => {
      const stream = await local.createTestStream(4);
      streams.push(stream);
      const [kept, drained] = await Promise.all(
        ['drain-kept', 'drain-me'].map((workerId) => stream.createWorker({ workerId, ...options })),
      );
      for (const worker of [kept!, drained!]) void worker.run();
      await eventually(() => ownedLeaseCount(kept!) === 2 && ownedLeaseCount(drained!) === 2, 'the 4 leases are held 2 and 2');
      const producing = produceRecords({
        kinesis: local.stack().kinesis,
        streamName: stream.streamName,
        count: 600,
        batchSize: 50,
        pauseMs: 20,
        keyCount: 32,
        ledger: stream.ledger,
      });
      const table = ['--lease-table', stream.leaseTableName, '--dynamodb-endpoint', local.stack().dynamodbEndpoint];
      const drain = await shoal([
        'drain',
        '--application',
        stream.applicationName,
        '--stream',
        stream.streamName,
        '--worker',
        'drain-me',
        ...table,
        '--wait-ms',
        '30000',
      ]);
      expect(drain.code, drain.stderr).toBe(0);
      expect(drain.stdout).toContain('worker drain-me holds no lease');
      await producing;
      expect(await stream.ledger.waitForAllProcessed(30_000)).toBe(true);
      expect(stream.ledger.summary()).toMatchObject({ lost: 0, outOfOrder: 0 });
      await eventually(() => ownedLeaseCount(kept!) === 4 && ownedLeaseCount(drained!) === 0, 'the other worker holds all 4');
      expect(drained!.state).toBe('running');
    });
  }

  it('names a worker that is not registered', async () => {
    const stream = await local.createTestStream(1);
    streams.push(stream);
    await stream.createWorker({ workerId: 'present' });
    const result = await shoal([
      'drain',
      '--application',
      stream.applicationName,
      '--worker',
      'absent',
      '--lease-table',
      stream.leaseTableName,
      '--dynamodb-endpoint',
      local.stack().dynamodbEndpoint,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`shoal drain: no worker absent is registered in application ${stream.applicationName}`);
  });
});
