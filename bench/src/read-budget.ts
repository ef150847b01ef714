/**
 * Three polling applications on one shard, with records flowing, for `READ_BUDGET_SECONDS` (30):
 * each is one worker with the shared read budget on Redis (`redis` option), and every
 * GetRecords call is counted, per application, by SDK middleware.
 * - `maxCallsPerSecond`: the most calls in any one-second window, all applications together
 *   (Kinesis allows 5 per shard); target ≤ 5.
 * - `shares`: each application's calls; target each within 20 % of a third.
 * - `maxLagMs`: per application, the largest put → processor latency of a record.
 * The applications poll with no wait between calls, so each wants more than the shard allows.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { LocalStack, RecordLedger, uniqueName } from '@shoal/local-stack';
import type { ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import { Worker } from '@shoal/runtime';
import { pino } from 'pino';
import { LoadProducer } from './load-producer.js';
import { printTable, sourceState, writeResult } from './report.js';

const SECONDS = Number(process.env.READ_BUDGET_SECONDS ?? 30);
const APPLICATIONS = ['app-a', 'app-b', 'app-c'];
const RATE = 100;
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TARGETS = { maxCallsPerSecond: 5, shareDeviation: 0.2 };

/** Counts every GetRecords call this client sends, with its time. */
function countingKinesis(stack: LocalStack, calls: number[]): KinesisClient {
  const client = new KinesisClient(stack.clientConfig('kinesis'));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetRecordsCommand') calls.push(Date.now());
      return next(args);
    },
    { step: 'initialize', name: 'countGetRecords' },
  );
  return client;
}

/** Records the largest put → processor latency it sees, and checkpoints each batch. */
function lagRecorder(lag: { maxMs: number }): ShardRecordProcessorFactory {
  return () => ({
    async processRecords({ records, checkpointer }) {
      const now = Date.now();
      for (const record of records) {
        const { putAt } = JSON.parse(Buffer.from(record.data).toString('utf8')) as { putAt: number };
        lag.maxMs = Math.max(lag.maxMs, now - putAt);
      }
      await checkpointer.checkpoint();
    },
    async shardEnded({ checkpointer }) {
      await checkpointer.checkpoint();
    },
    async shutdownRequested({ checkpointer }) {
      await checkpointer.checkpoint();
    },
  });
}

export async function run(): Promise<void> {
  await using stack = await LocalStack.start();
  const streamName = uniqueName('read-budget');
  await stack.createStream(streamName, 1);
  const leaseTableName = uniqueName('bench-read-budget-leases');
  const logger = pino({ level: process.env.BENCH_WORKER_LOG_LEVEL ?? 'error' });
  const calls = new Map(APPLICATIONS.map((application) => [application, [] as number[]]));
  const lags = new Map(APPLICATIONS.map((application) => [application, { maxMs: 0 }]));
  const workers: Worker[] = [];
  const clients: KinesisClient[] = [];
  let producer: LoadProducer | undefined;
  try {
    for (const application of APPLICATIONS) {
      const kinesis = countingKinesis(stack, calls.get(application)!);
      clients.push(kinesis);
      const worker = await Worker.create({
        applicationName: application,
        streamName,
        leaseTableName,
        workerId: `${application}-worker`,
        initialPosition: 'LATEST',
        kinesis,
        dynamoDb: stack.clientConfig('dynamodb'),
        redis: { url: REDIS_URL },
        // Every application polls as fast as it may: only the budget holds them back.
        retrieval: { idleTimeBetweenReadsMs: 0, maxIdleTimeBetweenReadsMs: 0 },
        processorFactory: lagRecorder(lags.get(application)!),
        logger,
      });
      workers.push(worker);
      void worker.run();
    }
    await sleep(3_000);
    producer = new LoadProducer(stack, streamName, new RecordLedger(), { recordsPerSecond: RATE, idPrefix: 'r', keyCount: 64 });
    for (const list of calls.values()) list.length = 0;
    const startedAt = Date.now();
    process.stdout.write(`3 applications on one shard, ${RATE} records/s, for ${SECONDS} s\n`);
    await sleep(SECONDS * 1_000);
    const endedAt = Date.now();
    await producer.stop();
    producer = undefined;

    const all = [...calls.values()]
      .flat()
      .filter((at) => at >= startedAt && at < endedAt)
      .sort((a, b) => a - b);
    let maxCallsPerSecond = 0;
    for (let first = 0, last = 0; first < all.length; first += 1) {
      while (last < all.length && all[last]! < all[first]! + 1_000) last += 1;
      maxCallsPerSecond = Math.max(maxCallsPerSecond, last - first);
    }
    const shares = Object.fromEntries(
      APPLICATIONS.map((application) => [application, calls.get(application)!.filter((at) => at >= startedAt && at < endedAt).length]),
    );
    const total = Object.values(shares).reduce((sum, count) => sum + count, 0);
    const worstDeviation = Math.max(...Object.values(shares).map((count) => Math.abs(count - total / 3) / (total / 3)));
    const maxLagMs = Object.fromEntries(APPLICATIONS.map((application) => [application, lags.get(application)!.maxMs]));
    printTable(`read-budget: ${APPLICATIONS.length} applications polling one shard for ${SECONDS} s, ${RATE} records/s, budget on Redis`, [
      ['figure', 'value', 'target'],
      ['calls in the busiest second (all)', maxCallsPerSecond, `≤ ${TARGETS.maxCallsPerSecond}`],
      ['calls per second on average (all)', (total / SECONDS).toFixed(2), '5'],
      ...APPLICATIONS.map((application) => [
        `${application} calls (share)`,
        `${shares[application]} (${((100 * shares[application]!) / total).toFixed(1)} %)`,
        '33.3 % ± 20 %',
      ]),
      ['worst deviation from a third', `${(100 * worstDeviation).toFixed(1)} %`, `≤ ${100 * TARGETS.shareDeviation} %`],
      ...APPLICATIONS.map((application) => [`${application} max lag`, `${maxLagMs[application]} ms`, '']),
    ]);
    writeResult('read-budget', {
      source: sourceState(),
      seconds: SECONDS,
      recordsPerSecond: RATE,
      maxCallsPerSecond,
      shares,
      worstShareDeviation: Math.round(worstDeviation * 1_000) / 1_000,
      maxLagMs,
      met: maxCallsPerSecond <= TARGETS.maxCallsPerSecond && worstDeviation <= TARGETS.shareDeviation,
      target: TARGETS,
      emulator: 'kinesalite',
    });
  } finally {
    await producer?.stop().catch(() => undefined);
    await Promise.allSettled(workers.map((worker) => worker.close()));
    for (const client of clients) client.destroy();
  }
}
