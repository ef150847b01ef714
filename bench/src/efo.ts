/**
 * Enhanced fan-out against polling on kinesis-local: two applications on the same 4 shards, one
 * reading by SubscribeToShard (HTTP/1.1 here; HTTP/2 on AWS), one polling GetRecords with the
 * default waits, while records flow at `EFO_RATE` a second for `EFO_SECONDS` (30), in `EFO_ROUNDS`
 * (3) rounds on fresh streams. Per application: put → processor latency at p50 and p99 (medians
 * of the rounds), and records lost (never processed). kinesis-local pushes an event about once a
 * second, so its fan-out latency is the emulator's cadence, not AWS's (about 70 ms there).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalStack, RecordLedger, uniqueName } from '@shoal/local-stack';
import type { ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import { Worker, type WorkerOptions } from '@shoal/runtime';
import { pino } from 'pino';
import { LoadProducer } from './load-producer.js';
import { median, percentile, printTable, sourceState, writeResult } from './report.js';

const SECONDS = Number(process.env.EFO_SECONDS ?? 30);
const ROUNDS = Number(process.env.EFO_ROUNDS ?? 3);
const RATE = Number(process.env.EFO_RATE ?? 200);
const SHARDS = 4;
/** After the producer stops, how long the applications get to process what is left. */
const DRAIN_MS = 20_000;

type Mode = 'efo' | 'poll';

interface RoundFigures {
  readonly p50Ms: Record<Mode, number>;
  readonly p99Ms: Record<Mode, number>;
  readonly lost: Record<Mode, number>;
  readonly produced: number;
}

/** Keeps each record's first put → processor latency, and checkpoints each batch. */
function latencyRecorder(latencies: Map<string, number>): ShardRecordProcessorFactory {
  return () => ({
    async processRecords({ records, checkpointer }) {
      const now = Date.now();
      for (const record of records) {
        const { id, putAt } = JSON.parse(Buffer.from(record.data).toString('utf8')) as { id: string; putAt: number };
        if (!latencies.has(id)) latencies.set(id, now - putAt);
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

async function round(stack: LocalStack, index: number): Promise<RoundFigures> {
  const streamName = uniqueName(`efo-${index}`);
  await stack.createStream(streamName, SHARDS);
  const leaseTableName = uniqueName('bench-efo-leases');
  const logger = pino({ level: process.env.BENCH_WORKER_LOG_LEVEL ?? 'error' });
  const latencies: Record<Mode, Map<string, number>> = { efo: new Map(), poll: new Map() };
  const base = (mode: Mode): WorkerOptions => ({
    applicationName: `${mode}-app`,
    streamName,
    leaseTableName,
    workerId: `${mode}-worker`,
    initialPosition: 'LATEST',
    kinesis: stack.clientConfig('kinesis'),
    dynamoDb: stack.clientConfig('dynamodb'),
    processorFactory: latencyRecorder(latencies[mode]),
    logger,
  });
  const workers = [
    await Worker.create({ ...base('efo'), fanOut: { consumerName: 'bench-efo' } }),
    // Polling at the defaults: 250 ms after a caught-up call, backing off to 1 s while empty.
    await Worker.create(base('poll')),
  ];
  const ledger = new RecordLedger();
  let producer: LoadProducer | undefined;
  try {
    for (const worker of workers) void worker.run();
    // Every lease owned and every subscription made before the first record is put.
    const deadline = Date.now() + 60_000;
    while (workers.some((worker) => worker.leases().filter((lease) => lease.state.startsWith('owned')).length < SHARDS)) {
      if (Date.now() > deadline) throw new Error('the applications did not own every lease within 60 s');
      await sleep(200);
    }
    await sleep(5_000);
    producer = new LoadProducer(stack, streamName, ledger, { recordsPerSecond: RATE, idPrefix: `r${index}`, keyCount: 256 });
    await sleep(SECONDS * 1_000);
    await producer.stop();
    producer = undefined;
    const produced = ledger.summary().produced;
    const drainDeadline = Date.now() + DRAIN_MS;
    while (Date.now() < drainDeadline && (latencies.efo.size < produced || latencies.poll.size < produced)) await sleep(200);
    const modes: Mode[] = ['efo', 'poll'];
    const values = (mode: Mode) => [...latencies[mode].values()];
    return {
      p50Ms: Object.fromEntries(modes.map((mode) => [mode, percentile(values(mode), 50)])) as Record<Mode, number>,
      p99Ms: Object.fromEntries(modes.map((mode) => [mode, percentile(values(mode), 99)])) as Record<Mode, number>,
      lost: Object.fromEntries(modes.map((mode) => [mode, produced - latencies[mode].size])) as Record<Mode, number>,
      produced,
    };
  } finally {
    await producer?.stop().catch(() => undefined);
    await Promise.allSettled(workers.map((worker) => worker.close()));
  }
}

export async function run(): Promise<void> {
  await using stack = await LocalStack.start({ kinesis: 'kinesis-local', shardLimit: SHARDS * ROUNDS + 4 });
  process.stdout.write(`efo: ${ROUNDS} rounds of ${SECONDS} s at ${RATE} records/s on ${SHARDS} shards of kinesis-local\n`);
  const rounds: RoundFigures[] = [];
  for (let index = 0; index < ROUNDS; index += 1) {
    const figures = await round(stack, index);
    rounds.push(figures);
    process.stdout.write(
      `round ${index + 1}: efo p50 ${figures.p50Ms.efo} ms p99 ${figures.p99Ms.efo} ms lost ${figures.lost.efo}; poll p50 ${figures.p50Ms.poll} ms p99 ${figures.p99Ms.poll} ms lost ${figures.lost.poll}\n`,
    );
  }
  const med = (pick: (round: RoundFigures) => number) => median(rounds.map(pick));
  const result = {
    efoP50Ms: med((r) => r.p50Ms.efo),
    efoP99Ms: med((r) => r.p99Ms.efo),
    pollP50Ms: med((r) => r.p50Ms.poll),
    pollP99Ms: med((r) => r.p99Ms.poll),
    lost: rounds.reduce((sum, r) => sum + r.lost.efo + r.lost.poll, 0),
  };
  printTable(`efo: put → processor latency, enhanced fan-out against polling (medians of ${ROUNDS} rounds)`, [
    ['figure', 'enhanced fan-out', 'polling'],
    ['p50 latency', `${result.efoP50Ms} ms`, `${result.pollP50Ms} ms`],
    ['p99 latency', `${result.efoP99Ms} ms`, `${result.pollP99Ms} ms`],
    ['records lost (all rounds)', rounds.reduce((sum, r) => sum + r.lost.efo, 0), rounds.reduce((sum, r) => sum + r.lost.poll, 0)],
    ['records put per round', rounds.map((r) => r.produced).join(', '), ''],
  ]);
  writeResult('efo', {
    source: sourceState(),
    seconds: SECONDS,
    rounds: ROUNDS,
    recordsPerSecond: RATE,
    shards: SHARDS,
    ...result,
    perRound: rounds,
    emulator: 'kinesis-local',
  });
}
