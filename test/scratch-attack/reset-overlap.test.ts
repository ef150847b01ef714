import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbLeaseStore, leaseNamespace } from '@shoal/coordinator';
import { parseRecordId, produceRecords } from '@shoal/local-stack';
import { expect, it } from 'vitest';
import { shoalInProcess as shoal } from '../support/run-cli.js';
import { eventually, processorWith, useLocalStack, type TestStream } from '../support/worker-harness.js';

const local = useLocalStack();
const SHARD_0 = 'shardId-000000000000';
type Interval = { worker: string; shard: string; start: number; end: number; n: number };

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
      const iv: Interval = { worker: workerId, shard: shardId, start: Date.now(), end: 0, n: records.length };
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
  const lateOld = rel.filter((iv) => iv.worker === oldOwner && iv.start > t1 - t0);
  const firstNew = rel.filter((iv) => iv.start >= 0 && (iv.worker !== oldOwner || iv.start > t1 - t0)).sort((x, y) => x.start - y.start)[0];
  // overlaps between different workers on the same shard
  const overlaps: string[] = [];
  for (const x of intervals) for (const y of intervals) {
    if (x.worker < y.worker && x.shard === y.shard && x.start < (y.end || Infinity) && y.start < (x.end || Infinity))
      overlaps.push(`${x.worker}[${x.start - t0},${x.end - t0}] vs ${y.worker}[${y.start - t0},${y.end - t0}]`);
  }
  console.log('lateOld', JSON.stringify(lateOld.slice(0, 5)), 'firstNew', JSON.stringify(firstNew), 'overlaps', overlaps);
  // old owner's batches that started after the reset and still counted (a new batch after being fenced)
  const lateOldBeforeHandoff = lateOld.filter((iv) => firstNew === undefined || iv.worker !== firstNew.worker ? iv.start < (firstNew?.start ?? Infinity) + 10_000 && iv.start < 3000 : false);
  expect(overlaps, 'two workers inside processRecords for one shard at once').toEqual([]);
  expect(lateOldBeforeHandoff.filter((iv) => firstNew && firstNew.worker !== oldOwner ? iv.start < firstNew.start + 3000 : iv.start < 300), 'old owner started a batch after the reset write').toEqual([]);
}, 90_000);
