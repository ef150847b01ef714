/**
 * Throughput: one Shoal worker reading 8 shards versus a bare GetRecords loop over the same data
 * on the same emulator, in the same run. Target: Shoal ≥ 0.9 of the bare loop.
 *
 * The bare loop is what a hand-written consumer does at best: one GetRecords loop per shard,
 * all shards at once, next call as soon as the previous returns, counting records and nothing
 * else. Shoal runs with its defaults and a processor that counts records and checkpoints each
 * batch, so its figure includes leases, de-aggregation checks, state machines and checkpoints.
 *
 * Each run also measures the CPU time of this process while it reads (the emulators run in
 * child processes): on a real stream the emulator is not the bottleneck, the consumer's CPU is,
 * and CPU microseconds per record decide how many shards a node carries.
 *
 * Environment: BENCH_RECORDS (default 200000), BENCH_RECORD_BYTES (1024), BENCH_SHARDS (8),
 * BENCH_ROUNDS (3; each round runs both, alternating which goes first).
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { LocalStack, uniqueName } from '@shoal/local-stack';
import { Worker } from '@shoal/runtime';
import { pino } from 'pino';
import { median, printTable, writeResult } from './report.js';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 200_000);
const RECORD_BYTES = Number(process.env.BENCH_RECORD_BYTES ?? 1_024);
const SHARDS = Number(process.env.BENCH_SHARDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

export async function run(): Promise<void> {
  await using stack = await LocalStack.start();
  const streamName = uniqueName('throughput');
  await stack.createStream(streamName, SHARDS);
  const fillMs = await fill(stack.kinesis, streamName);
  process.stdout.write(
    `filled ${streamName}: ${RECORDS} records of ${RECORD_BYTES} B over ${SHARDS} shards in ${(fillMs / 1000).toFixed(1)} s\n`,
  );

  const bare: number[] = [];
  const shoal: number[] = [];
  const bareCpu: number[] = [];
  const shoalCpu: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = round % 2 === 0 ? (['bare', 'shoal'] as const) : (['shoal', 'bare'] as const);
    for (const contender of order) {
      const { ms, cpuMicros } =
        contender === 'bare' ? await bareLoop(stack.kinesis, streamName) : await shoalWorker(stack, streamName, round);
      (contender === 'bare' ? bare : shoal).push((RECORDS / ms) * 1000);
      (contender === 'bare' ? bareCpu : shoalCpu).push(cpuMicros / RECORDS);
      process.stdout.write(
        `round ${round + 1}: ${contender.padEnd(5)} ${(ms / 1000).toFixed(2)} s, ${(cpuMicros / RECORDS).toFixed(1)} µs CPU per record\n`,
      );
    }
  }

  const bareRecordsPerSec = Math.round(median(bare));
  const shoalRecordsPerSec = Math.round(median(shoal));
  const ratio = Number((shoalRecordsPerSec / bareRecordsPerSec).toFixed(3));
  const bareCpuMicrosPerRecord = Number(median(bareCpu).toFixed(2));
  const shoalCpuMicrosPerRecord = Number(median(shoalCpu).toFixed(2));
  const cpuRatio = Number((shoalCpuMicrosPerRecord / bareCpuMicrosPerRecord).toFixed(3));
  printTable(`throughput: ${RECORDS} records × ${RECORD_BYTES} B, ${SHARDS} shards, kinesalite (median of ${ROUNDS} rounds)`, [
    ['reader', 'records/s', 'MiB/s', 'CPU µs/record', 'rounds (records/s)'],
    [
      'bare GetRecords loop',
      bareRecordsPerSec,
      (bareRecordsPerSec * RECORD_BYTES) / 2 ** 20,
      bareCpuMicrosPerRecord,
      bare.map(Math.round).join(' '),
    ],
    [
      'Shoal worker',
      shoalRecordsPerSec,
      (shoalRecordsPerSec * RECORD_BYTES) / 2 ** 20,
      shoalCpuMicrosPerRecord,
      shoal.map(Math.round).join(' '),
    ],
    ['ratio (targets ≥ 0.9, CPU ≤ 1.1)', ratio, '', cpuRatio, ''],
  ]);
  writeResult('throughput', {
    shoalRecordsPerSec,
    bareRecordsPerSec,
    ratio,
    target: 0.9,
    cpuMicrosPerRecord: { shoal: shoalCpuMicrosPerRecord, bare: bareCpuMicrosPerRecord, ratio: cpuRatio, target: 1.1 },
    records: RECORDS,
    recordBytes: RECORD_BYTES,
    shards: SHARDS,
    rounds: { bare: bare.map(Math.round), shoal: shoal.map(Math.round) },
    cpuMicrosPerRecordRounds: {
      bare: bareCpu.map((value) => Number(value.toFixed(2))),
      shoal: shoalCpu.map((value) => Number(value.toFixed(2))),
    },
    emulator: 'kinesalite',
  });
}

async function fill(kinesis: KinesisClient, streamName: string): Promise<number> {
  const started = performance.now();
  const payload = Buffer.alloc(RECORD_BYTES, 'x');
  const batches = Math.ceil(RECORDS / 500);
  let next = 0;
  // Four producers at once; order within a key does not matter here.
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let batch = next++; batch < batches; batch = next++) {
        const count = Math.min(500, RECORDS - batch * 500);
        let pending = Array.from({ length: count }, (_, index) => ({ PartitionKey: `key-${batch}-${index}`, Data: payload }));
        while (pending.length > 0) {
          const { Records = [] } = await kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: pending }));
          pending = pending.filter((_, index) => Records[index]?.ErrorCode !== undefined);
        }
      }
    }),
  );
  return performance.now() - started;
}

/** What one run took: wall time, and this process's CPU time while it read. */
interface RunCost {
  readonly ms: number;
  readonly cpuMicros: number;
}

function cpuMicrosSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

/** One loop per shard, all at once, until every record was read. */
async function bareLoop(kinesis: KinesisClient, streamName: string): Promise<RunCost> {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
  let total = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Shards.map(async (shard) => {
      const { ShardIterator } = await kinesis.send(
        new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      let iterator = ShardIterator;
      while (iterator && total < RECORDS) {
        const response = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        const count = response.Records?.length ?? 0;
        total += count;
        if (count === 0) break;
        iterator = response.NextShardIterator;
      }
    }),
  );
  const elapsed = performance.now() - started;
  const cpuMicros = cpuMicrosSince(cpu);
  if (total !== RECORDS) throw new Error(`bare loop read ${total} records, expected ${RECORDS}`);
  return { ms: elapsed, cpuMicros };
}

/** A fresh application (so every lease starts at TRIM_HORIZON) read by one worker with defaults. */
async function shoalWorker(stack: LocalStack, streamName: string, round: number): Promise<RunCost> {
  let total = 0;
  let finish: (() => void) | undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const worker = await Worker.create({
    applicationName: `throughput-${round}`,
    streamName,
    initialPosition: 'TRIM_HORIZON',
    leaseTableName: 'shoal-bench-leases',
    kinesis: stack.clientConfig('kinesis'),
    dynamoDb: stack.clientConfig('dynamodb'),
    logger: pino({ level: 'warn' }),
    processorFactory: () => ({
      async processRecords({ records, checkpointer }) {
        total += records.length;
        await checkpointer.checkpoint();
        if (total >= RECORDS) finish?.();
      },
      async shardEnded({ checkpointer }) {
        await checkpointer.checkpoint();
      },
      async shutdownRequested({ checkpointer }) {
        await checkpointer.checkpoint();
      },
    }),
  });
  const cpu = process.cpuUsage();
  const started = performance.now();
  const running = worker.run();
  await done;
  const elapsed = performance.now() - started;
  const cpuMicros = cpuMicrosSince(cpu);
  await worker.shutdown();
  await running;
  await worker.close();
  if (total !== RECORDS) throw new Error(`Shoal processed ${total} records, expected ${RECORDS}`);
  return { ms: elapsed, cpuMicros };
}
