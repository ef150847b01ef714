import { parseRecordId, produceRecords } from '@shoal/local-stack';
import { expect, it } from 'vitest';
import { shoalInProcess as shoal } from '../support/run-cli.js';
import { eventually, processorWith, useLocalStack, type TestStream } from '../support/worker-harness.js';

const local = useLocalStack();
const SHARD_0 = 'shardId-000000000000';
type Interval = { worker: string; shard: string; start: number; end: number; n: number; first: string };

function checkpointSet(stream: TestStream, extra: string[]) {
  return shoal(['checkpoint', 'set', '--application', stream.applicationName, '--stream', stream.streamName,
    '--lease-table', stream.leaseTableName, '--dynamodb-endpoint', local.stack().dynamodbEndpoint,
    '--kinesis-endpoint', local.stack().kinesisEndpoint, ...extra]);
}

it('reset mid-batch: old owner never starts a batch after the reset write; no overlap beyond its in-flight batch', async () => {
  const stream = await local.createTestStream(1);
  const intervals: Interval[] = [];
  const mk = (workerId: string) => stream.createWorker({
    workerId, nats: { servers: '127.0.0.1:4222' },
    processorFactory: ({ shardId }) => processorWith(async ({ records, checkpointer }) => {
      const iv: Interval = { worker: workerId, shard: shardId, start: Date.now(), end: 0, n: records.length, first: records[0] ? parseRecordId(records[0].data) : '' };
      intervals.push(iv);
      await new Promise((r) => setTimeout(r, 300));
      for (const record of records) stream.ledger.recordProcessed(parseRecordId(record.data));
      iv.end = Date.now();
      await checkpointer.checkpoint();
    }),
  });
  const [a, b] = await Promise.all([mk('w-a'), mk('w-b')]);
  void a!.run(); void b!.run();
  const producing = produceRecords({ kinesis: local.stack().kinesis, streamName: stream.streamName, count: 300, batchSize: 5, pauseMs: 40, keyCount: 4, ledger: stream.ledger });
  await eventually(() => intervals.some((iv) => iv.end > 0), 'a batch done');
  // wait until mid-batch
  await eventually(() => intervals.some((iv) => iv.end === 0 && Date.now() - iv.start > 50), 'mid-batch');
  const t0 = Date.now();
  const result = await checkpointSet(stream, ['--shard', SHARD_0, '--to', 'TRIM_HORIZON', '--connect-timeout-ms', '2000']);
  const t1 = Date.now();
  expect(result.code, result.stderr).toBe(0);
  const oldOwner = /taken from ([\w-]+)/.exec(result.stdout)?.[1];
  await producing;
  expect(await stream.ledger.waitForAllProcessed(40_000)).toBe(true);
  await new Promise((r) => setTimeout(r, 1500));
  const rel = intervals.map((iv) => ({ ...iv, start: iv.start - t0, end: iv.end ? iv.end - t0 : -1 }));
  console.log('reset window', 0, t1 - t0, 'oldOwner', oldOwner, JSON.stringify(rel.filter((iv) => iv.start > -1500 && iv.start < 4000)));
  // A batch after the reset write that does not begin at the stream's first record continues the old position: stale.
  const firstId = stream.ledger.producedIds()[0];
  const stale = rel.filter((iv) => iv.start > t1 - t0 && iv.worker === oldOwner && iv.first !== firstId && iv.start < (rel.find((x) => x.start > t1 - t0 && x.first === firstId)?.start ?? Infinity));
  const overlaps: string[] = [];
  for (const x of intervals) for (const y of intervals) {
    if (x.worker < y.worker && x.shard === y.shard && x.start < (y.end || Infinity) && y.start < (x.end || Infinity))
      overlaps.push(`${x.worker}[${x.start - t0},${x.end - t0}] vs ${y.worker}[${y.start - t0},${y.end - t0}]`);
  }
  console.log('stale', JSON.stringify(stale), 'overlaps', overlaps);
  expect(stale, 'old owner started a batch from its old position after the reset write').toEqual([]);
  expect(overlaps, 'two workers inside processRecords for one shard at once').toEqual([]);
}, 90_000);
