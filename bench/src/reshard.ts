/**
 * Resharding: how soon a child shard starts once its parents are finished. Two in-process
 * workers on the coordination bus (production timings) consume a stream under continuous load;
 * each of its shards is split in turn, then pairs of adjacent children are merged. For every
 * child, the gap is its first processed batch minus the moment the last of its parents was
 * checkpointed at SHARD_END (both stamped in this process). Target: p99 ≤ 200 ms (KCL polls
 * parents every 10 s).
 *
 * Environment: RESHARD_SHARDS (initial shards, default 4), RESHARD_RATE (records/s in all, 400).
 */
import { NatsCoordinationBus, connectNats, listShards, mergeShards, splitShard, type NatsLink, type ShardInfo } from '@shoal/coordinator';
import { LocalStack, RecordLedger, parseRecordId, uniqueName } from '@shoal/local-stack';
import { Worker } from '@shoal/runtime';
import { pino } from 'pino';
import { LoadProducer } from './load-producer.js';
import { percentile, printTable, sourceState, writeResult } from './report.js';

const SHARDS = Number(process.env.RESHARD_SHARDS ?? 4);
const RATE = Number(process.env.RESHARD_RATE ?? 400);
const TARGET_P99_MS = 200;
const NATS = '127.0.0.1:4222';

interface ChildGap {
  readonly kind: 'split' | 'merge';
  readonly childShardId: string;
  readonly gapMs: number;
}

export async function run(): Promise<void> {
  await using stack = await LocalStack.start();
  const streamName = uniqueName('bench-reshard');
  const applicationName = uniqueName('bench-reshard-app');
  await stack.createStream(streamName, SHARDS);
  const ledger = new RecordLedger();
  const endedAt = new Map<string, number>();
  const firstBatchAt = new Map<string, number>();
  const logger = pino({ level: process.env.BENCH_WORKER_LOG_LEVEL ?? 'warn' });
  const links: NatsLink[] = [];
  const workers: Worker[] = [];
  const leaseTableName = uniqueName('bench-reshard-leases');
  for (const workerId of ['reshard-a', 'reshard-b']) {
    const link = connectNats({ servers: NATS, name: workerId, logger });
    links.push(link);
    if (!(await link.ready(3_000))) throw new Error(`NATS is not reachable at ${NATS}`);
    const worker = await Worker.create({
      applicationName,
      streamName,
      leaseTableName,
      workerId,
      initialPosition: 'TRIM_HORIZON',
      kinesis: stack.clientConfig('kinesis'),
      dynamoDb: stack.clientConfig('dynamodb'),
      coordinationBus: new NatsCoordinationBus({ link, application: applicationName, streamName, logger }),
      logger: logger.child({ workerId }),
      processorFactory: ({ shardId }) => ({
        async processRecords({ records, checkpointer }) {
          if (!firstBatchAt.has(shardId)) firstBatchAt.set(shardId, Date.now());
          for (const record of records) ledger.recordProcessed(parseRecordId(record.data));
          await checkpointer.checkpoint();
        },
        async shardEnded({ checkpointer }) {
          await checkpointer.checkpoint();
          endedAt.set(shardId, Date.now());
        },
        async shutdownRequested({ checkpointer }) {
          await checkpointer.checkpoint();
        },
      }),
    });
    workers.push(worker);
    void worker.run();
  }
  const producer = new LoadProducer(stack, streamName, ledger, { recordsPerSecond: RATE, idPrefix: 'reshard' });
  const gaps: ChildGap[] = [];
  try {
    await waitUntil(() => firstBatchAt.size >= SHARDS, 60_000, 'every shard processed a batch');
    const original = openShards(await listShards(stack.kinesis, streamName));
    for (const shard of original) {
      const { childShards } = await splitShard(stack.kinesis, streamName, shard.shardId);
      await collect('split', childShards, endedAt, firstBatchAt, gaps);
      process.stdout.write(`split ${shard.shardId}: ${childShards.map((child) => gapOf(gaps, child.shardId)).join(' ms, ')} ms\n`);
    }
    for (const [left, right] of adjacentPairs(openShards(await listShards(stack.kinesis, streamName)))) {
      const { childShards } = await mergeShards(stack.kinesis, streamName, left.shardId, right.shardId);
      await collect('merge', childShards, endedAt, firstBatchAt, gaps);
      process.stdout.write(`merge ${left.shardId} + ${right.shardId}: ${gapOf(gaps, childShards[0]!.shardId)} ms\n`);
    }
  } finally {
    await producer.stop();
  }
  const complete = await ledger.waitForAllProcessed(60_000);
  await Promise.all(workers.map((worker) => worker.close()));
  for (const link of links) await link.close();

  const all = gaps.map((gap) => gap.gapMs);
  const summary = ledger.summary();
  const row = (label: string, values: number[]) => [
    label,
    values.length,
    percentile(values, 50),
    percentile(values, 99),
    Math.max(...values),
  ];
  printTable(
    `reshard: ${SHARDS} shards split one by one, then adjacent children merged; 2 workers, ~${RATE} records/s (target p99 ≤ ${TARGET_P99_MS} ms)`,
    [
      ['children', 'count', 'p50 ms', 'p99 ms', 'max ms'],
      row(
        'of a split',
        gaps.filter((gap) => gap.kind === 'split').map((gap) => gap.gapMs),
      ),
      row(
        'of a merge',
        gaps.filter((gap) => gap.kind === 'merge').map((gap) => gap.gapMs),
      ),
      row('all', all),
    ],
  );
  process.stdout.write(
    `records: produced ${summary.produced}, lost ${summary.lost}, duplicates ${summary.duplicates}, out of per-key order ${summary.outOfOrder}${complete ? '' : ' (not all processed in time)'}\n`,
  );
  writeResult('reshard', {
    p50Ms: percentile(all, 50),
    p99Ms: percentile(all, 99),
    maxMs: Math.max(...all),
    met: percentile(all, 99) <= TARGET_P99_MS,
    target: { p99Ms: TARGET_P99_MS },
    gapDefinition: "child's first processed batch − the last of its parents' SHARD_END checkpoints, stamped in one process",
    children: gaps,
    lost: summary.lost,
    duplicates: summary.duplicates,
    outOfOrder: summary.outOfOrder,
    shards: SHARDS,
    recordsPerSecond: RATE,
    workers: 2,
    timings: 'production defaults, coordination bus nats://127.0.0.1:4222',
    emulator: 'kinesalite + dynalite',
    source: sourceState(),
  });
}

/** Waits until every child processed a batch and all its parents ended, then records the gaps. */
async function collect(
  kind: ChildGap['kind'],
  children: readonly ShardInfo[],
  endedAt: ReadonlyMap<string, number>,
  firstBatchAt: ReadonlyMap<string, number>,
  gaps: ChildGap[],
): Promise<void> {
  const ready = () =>
    children.every((child) => firstBatchAt.has(child.shardId) && child.parentShardIds.every((parent) => endedAt.has(parent)));
  await waitUntil(ready, 60_000, `children ${children.map((child) => child.shardId).join(', ')} started`);
  for (const child of children) {
    const parentsEnded = Math.max(...child.parentShardIds.map((parent) => endedAt.get(parent)!));
    gaps.push({ kind, childShardId: child.shardId, gapMs: firstBatchAt.get(child.shardId)! - parentsEnded });
  }
}

function gapOf(gaps: readonly ChildGap[], shardId: string): number | undefined {
  return gaps.find((gap) => gap.childShardId === shardId)?.gapMs;
}

function openShards(shards: readonly ShardInfo[]): ShardInfo[] {
  return shards
    .filter((shard) => shard.endingSequenceNumber === undefined)
    .sort((a, b) => (BigInt(a.hashKeyRange.startingHashKey) < BigInt(b.hashKeyRange.startingHashKey) ? -1 : 1));
}

/** Disjoint pairs of neighbours in hash key order. */
function adjacentPairs(sorted: readonly ShardInfo[]): [ShardInfo, ShardInfo][] {
  const pairs: [ShardInfo, ShardInfo][] = [];
  for (let index = 0; index + 1 < sorted.length; index += 2) pairs.push([sorted[index]!, sorted[index + 1]!]);
  return pairs;
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`reshard: timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
