/**
 * Replication: records per second copied from one stream to 3 target streams by the replicator
 * (`replicatorProcessor`) running in one Shoal worker, versus a bare loop over the same data on
 * the same emulator in the same run. Target: the replicator ≥ 0.9 of the bare loop, with nothing
 * lost or out of order in any target.
 *
 * The bare loop is what a hand-written copier does at best: one loop per source shard, all shards
 * at once, GetRecords of up to 10,000 records, then PutRecords of up to 500 records to the 3
 * targets at once (one call at a time per target, so each key's records keep their order), then
 * the next GetRecords. The replicator reads with the worker's defaults (10,000 records per call)
 * and writes with the same PutRecords sizes; its figure includes leases, checkpoints after every
 * batch, and its per-key ordering of PutRecords calls.
 *
 * Each run copies into 3 fresh target streams, which are then read back: every record must be
 * there (`lost`), and each key's first copies in the source's order (`outOfOrder`). The clock
 * starts at the first GetRecords call (worker start-up and taking the leases are not copying) and
 * stops when the last record is in every target (for the replicator: when the processRecords call
 * that wrote it returned). The worker's Kinesis request timeout is raised to 30 s, as the bare
 * loop waits for every answer and kinesalite can take over 5 s for a read of 10,000 records.
 *
 * Environment: BENCH_RECORDS (default 50000), BENCH_RECORD_BYTES (512), BENCH_SHARDS (4),
 * BENCH_TARGET_SHARDS (2), BENCH_ROUNDS (3; each round runs both, alternating which goes first).
 */
import {
  DeleteStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
  KinesisClient,
} from '@aws-sdk/client-kinesis';
import { LocalStack, RecordLedger, parseRecordId, produceRecords, uniqueName } from '@shoal/local-stack';
import type { ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import { Worker, replicatorProcessor } from '@shoal/runtime';
import { pino } from 'pino';
import { median, printTable, sourceState, writeResult } from './report.js';
import { readWholeStream } from './stream-reader.js';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 50_000);
const RECORD_BYTES = Number(process.env.BENCH_RECORD_BYTES ?? 512);
const SHARDS = Number(process.env.BENCH_SHARDS ?? 4);
const TARGET_SHARDS = Number(process.env.BENCH_TARGET_SHARDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGETS = 3;
/** Distinct partition keys: a PutRecords call of 500 consecutive records rarely holds one twice. */
const KEYS = 5_000;
/** A run that has not copied everything by then fails the benchmark. */
const RUN_TIMEOUT_MS = 10 * 60_000;
const PUT_BATCH = 500;

/** What the copies in the targets of one run look like against the source. */
interface Copied {
  readonly lost: number;
  readonly outOfOrder: number;
  readonly duplicates: number;
}

export async function run(): Promise<void> {
  await using stack = await LocalStack.start();
  const source = uniqueName('replicate-source');
  await stack.createStream(source, SHARDS);
  const fillStarted = performance.now();
  await produceRecords({
    kinesis: stack.kinesis,
    streamName: source,
    count: RECORDS,
    batchSize: PUT_BATCH,
    keyCount: KEYS,
    recordBytes: RECORD_BYTES,
  });
  // Each key's order is the source's, as read back (one shard per key).
  const sourceOrder = (await readWholeStream(stack.kinesis, source)).map((record) => ({
    id: parseRecordId(record.Data!),
    key: record.PartitionKey!,
  }));
  if (sourceOrder.length !== RECORDS) throw new Error(`the source holds ${sourceOrder.length} records, expected ${RECORDS}`);
  process.stdout.write(
    `filled ${source}: ${RECORDS} records of ${RECORD_BYTES} B over ${SHARDS} shards in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s\n`,
  );

  const rates = { bare: [] as number[], replicator: [] as number[] };
  const copied = { bare: [] as Copied[], replicator: [] as Copied[] };
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = round % 2 === 0 ? (['bare', 'replicator'] as const) : (['replicator', 'bare'] as const);
    for (const contender of order) {
      const targets = Array.from({ length: TARGETS }, (_, index) => uniqueName(`replicate-${contender}-${round}-${index}`));
      await Promise.all(targets.map((name) => stack.createStream(name, TARGET_SHARDS)));
      const ms =
        contender === 'bare' ? await bareLoop(stack.kinesis, source, targets) : await replicatorWorker(stack, source, targets, round);
      const check = await checkTargets(stack.kinesis, targets, sourceOrder);
      rates[contender].push((RECORDS / ms) * 1000);
      copied[contender].push(check);
      process.stdout.write(
        `round ${round + 1}: ${contender.padEnd(10)} ${(ms / 1000).toFixed(2)} s, lost ${check.lost}, out of order ${check.outOfOrder}, duplicates ${check.duplicates}\n`,
      );
      // Keeps the emulator's memory to one run's targets.
      await Promise.all(targets.map((name) => stack.kinesis.send(new DeleteStreamCommand({ StreamName: name }))));
    }
  }

  const bareRecordsPerSec = Math.round(median(rates.bare));
  const replicatedRecordsPerSec = Math.round(median(rates.replicator));
  const ratio = Number((replicatedRecordsPerSec / bareRecordsPerSec).toFixed(3));
  const sum = (checks: readonly Copied[], field: keyof Copied) => checks.reduce((total, check) => total + check[field], 0);
  const lost = sum(copied.replicator, 'lost');
  const outOfOrder = sum(copied.replicator, 'outOfOrder');
  printTable(
    `replicate: ${RECORDS} records × ${RECORD_BYTES} B, ${SHARDS} shards → ${TARGETS} targets of ${TARGET_SHARDS} shards, kinesalite (median of ${ROUNDS} rounds)`,
    [
      ['copier', 'records/s', 'MiB/s read', 'lost', 'out of order', 'duplicates', 'rounds (records/s)'],
      ...(['bare', 'replicator'] as const).map((contender) => [
        contender === 'bare' ? 'bare GetRecords/PutRecords loop' : 'replicator in a Shoal worker',
        Math.round(median(rates[contender])),
        (median(rates[contender]) * RECORD_BYTES) / 2 ** 20,
        sum(copied[contender], 'lost'),
        sum(copied[contender], 'outOfOrder'),
        sum(copied[contender], 'duplicates'),
        rates[contender].map(Math.round).join(' '),
      ]),
      ['ratio (target ≥ 0.9, nothing lost or out of order)', ratio, '', '', '', '', ''],
    ],
  );
  writeResult('replicate', {
    source: sourceState(),
    replicatedRecordsPerSec,
    bareRecordsPerSec,
    ratio,
    lost,
    outOfOrder,
    duplicates: sum(copied.replicator, 'duplicates'),
    met: ratio >= 0.9 && lost === 0 && outOfOrder === 0,
    target: { ratio: 0.9, lost: 0, outOfOrder: 0 },
    records: RECORDS,
    recordBytes: RECORD_BYTES,
    shards: SHARDS,
    targets: TARGETS,
    targetShards: TARGET_SHARDS,
    rounds: { bare: rates.bare.map(Math.round), replicator: rates.replicator.map(Math.round) },
    bare: { lost: sum(copied.bare, 'lost'), outOfOrder: sum(copied.bare, 'outOfOrder') },
    emulator: 'kinesalite',
  });
}

/** One loop per source shard, all at once: read a page, write it to every target, read the next. */
async function bareLoop(kinesis: KinesisClient, source: string, targets: readonly string[]): Promise<number> {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: source }));
  const deadline = performance.now() + RUN_TIMEOUT_MS;
  let total = 0;
  // From the first GetRecords, as for the replicator.
  let started: number | undefined;
  await Promise.all(
    Shards.map(async (shard) => {
      let { ShardIterator: iterator } = await kinesis.send(
        new GetShardIteratorCommand({ StreamName: source, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      for (let calls = 0; iterator && total < RECORDS && calls < RECORDS && performance.now() < deadline; calls += 1) {
        started ??= performance.now();
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        const records = page.Records ?? [];
        if (records.length === 0) break;
        await Promise.all(targets.map((target) => putInOrder(kinesis, target, records)));
        total += records.length;
        iterator = page.NextShardIterator;
      }
    }),
  );
  const elapsed = performance.now() - (started ?? performance.now());
  if (total !== RECORDS) throw new Error(`the bare loop copied ${total} records, expected ${RECORDS}`);
  return elapsed;
}

/** PutRecords of up to 500 records, one call after the other; rejected records are sent again before the next call. */
async function putInOrder(
  kinesis: KinesisClient,
  target: string,
  records: readonly { Data?: Uint8Array; PartitionKey?: string }[],
): Promise<void> {
  for (let start = 0; start < records.length; start += PUT_BATCH) {
    let pending = records.slice(start, start + PUT_BATCH).map((record) => ({ Data: record.Data, PartitionKey: record.PartitionKey }));
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      if (attempt >= 100) throw new Error(`${target} kept rejecting ${pending.length} records`);
      const { Records = [] } = await kinesis.send(new PutRecordsCommand({ StreamName: target, Records: pending }));
      pending = pending.filter((_, index) => Records[index]?.ErrorCode !== undefined);
    }
  }
}

/** A fresh application (every lease from TRIM_HORIZON) whose one worker runs the replicator, until every record is in every target. */
async function replicatorWorker(stack: LocalStack, source: string, targets: readonly string[], round: number): Promise<number> {
  let total = 0;
  let finish: (() => void) | undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const replicator = replicatorProcessor({
    targets: targets.map((streamName) => ({ streamName })),
    kinesis: stack.clientConfig('kinesis'),
    logger: pino({ level: 'warn' }),
  });
  // Counts a batch once processRecords returned: by then every target has it.
  const counting: ShardRecordProcessorFactory = (shard) => {
    const processor = replicator(shard);
    return {
      ...processor,
      async processRecords(input) {
        await processor.processRecords(input);
        total += input.records.length;
        if (total >= RECORDS) finish?.();
      },
    };
  };
  // The clock starts at the worker's first GetRecords, as the bare loop's: start-up and taking the leases are not copying.
  let started: number | undefined;
  const kinesis = new KinesisClient(stack.clientConfig('kinesis'));
  kinesis.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'GetRecordsCommand') started ??= performance.now();
      return next(args);
    },
    { step: 'initialize' },
  );
  const worker = await Worker.create({
    applicationName: `replicate-${round}`,
    streamName: source,
    initialPosition: 'TRIM_HORIZON',
    leaseTableName: 'shoal-bench-leases',
    kinesis,
    // The bare loop waits for every answer: a 10,000-record read from kinesalite can take longer than the 5 s default.
    kinesisRequestTimeoutMs: 30_000,
    dynamoDb: stack.clientConfig('dynamodb'),
    logger: pino({ level: 'warn' }),
    processorFactory: counting,
  });
  const running = worker.run();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the replicator copied ${total} of ${RECORDS} records in ${RUN_TIMEOUT_MS} ms`)),
      RUN_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([done, timedOut]);
    return performance.now() - (started ?? performance.now());
  } finally {
    clearTimeout(timer);
    await worker.shutdown();
    await running;
    await worker.close();
    kinesis.destroy();
  }
}

/** Reads every target back and compares it with the source: records missing, first copies out of key order, copies repeated. */
async function checkTargets(
  kinesis: KinesisClient,
  targets: readonly string[],
  sourceOrder: readonly { id: string; key: string }[],
): Promise<Copied> {
  let lost = 0;
  let outOfOrder = 0;
  let duplicates = 0;
  for (const target of targets) {
    const ledger = new RecordLedger();
    for (const { id, key } of sourceOrder) ledger.recordProduced(id, key);
    for (const record of await readWholeStream(kinesis, target)) ledger.recordProcessed(parseRecordId(record.Data!));
    lost += ledger.lost;
    outOfOrder += ledger.outOfOrder;
    duplicates += ledger.duplicates;
  }
  return { lost, outOfOrder, duplicates };
}
