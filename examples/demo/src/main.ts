/**
 * The Shoal demo: two workers in one process share a 4-shard stream through the lease table.
 *
 * Starts kinesalite and dynalite on free loopback ports, creates the stream, starts worker A,
 * produces records while worker B joins and takes its share by graceful handoff, waits until
 * every record was processed, prints who holds what, stops both workers gracefully, and ends
 * with `demo: produced=N processed=N lost=0 duplicates=D` (exit code 1 if anything was lost).
 *
 * When a NATS server answers on 127.0.0.1:4222 the workers coordinate over it (a leader plans,
 * handoffs are announced, liveness comes from leader grants) and publish live lease states (watch
 * them with `shoal watch --application demo`); without one the demo runs the same through the
 * lease table alone.
 */
import {
  connectNats,
  NatsCoordinationBus,
  NatsLeaseStatePublisher,
  type CoordinationBus,
  type LeaseStatePublisher,
} from '@shoal/coordinator';
import { LocalStack, RecordLedger, parseRecordId, produceRecords, uniqueName } from '@shoal/local-stack';
import type { ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import { Worker } from '@shoal/runtime';
import { pino } from 'pino';

const RECORD_COUNT = Number(process.env.DEMO_RECORDS ?? 4000);
const SHARD_COUNT = 4;
const APPLICATION = 'demo';

const logger = pino({ name: 'demo', level: process.env.LOG_LEVEL ?? 'warn' });
const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  say('starting the local stack (kinesalite + dynalite)…');
  await using stack = await LocalStack.start();
  const streamName = uniqueName('demo-stream');
  await stack.createStream(streamName, SHARD_COUNT);
  say(`stream ${streamName}: ${SHARD_COUNT} shards on ${stack.kinesisEndpoint}`);

  await using live = await connectLiveState();
  const ledger = new RecordLedger();
  const processorFactory: ShardRecordProcessorFactory = () => ({
    async processRecords({ records, checkpointer }) {
      for (const record of records) ledger.recordProcessed(parseRecordId(record.data));
      await checkpointer.checkpoint();
    },
    async shardEnded({ checkpointer }) {
      await checkpointer.checkpoint();
    },
    async shutdownRequested({ checkpointer }) {
      await checkpointer.checkpoint();
    },
  });
  const leaseTableName = uniqueName('demo-leases');
  const createWorker = (workerId: string) =>
    Worker.create({
      applicationName: APPLICATION,
      streamName,
      workerId,
      processorFactory,
      initialPosition: 'TRIM_HORIZON',
      kinesis: stack.clientConfig('kinesis'),
      dynamoDb: stack.clientConfig('dynamodb'),
      leaseTableName,
      leaseSyncIntervalMs: 500,
      logger,
      ...(live.publisher ? { leaseStatePublisher: live.publisher } : {}),
      coordinationBus: live.createBus(streamName),
    });

  const workerA = await createWorker('worker-a');
  const runningA = workerA.run();
  say('worker-a started');

  let workerB: Worker | undefined;
  let runningB: Promise<void> | undefined;
  const progress = new ProgressBar(RECORD_COUNT);
  await produceRecords({
    kinesis: stack.kinesis,
    streamName,
    count: RECORD_COUNT,
    batchSize: 100,
    ledger,
    pauseMs: 50,
    onProgress: async (written) => {
      progress.update(written, ledger.processedCount);
      if (!workerB && written >= RECORD_COUNT / 4) {
        workerB = await createWorker('worker-b');
        runningB = workerB.run();
        progress.note('worker-b joined; it asks worker-a to hand over its share');
      }
    },
  });
  const complete = await ledger.waitForAllProcessed(60_000);
  progress.update(ledger.producedCount, ledger.processedCount, true);
  await waitForBalance([workerA, workerB!], 10_000);

  say('');
  for (const worker of [workerA, workerB!]) {
    const held = worker.leases().map((lease) => `${lease.shardId} (${lease.state}, checkpoint ${lease.checkpoint})`);
    say(`${worker.workerId} holds ${held.length} lease(s): ${held.join(', ') || 'none'}`);
  }

  say('stopping both workers gracefully (each lease drains and checkpoints)…');
  await Promise.all([workerA.shutdown(), workerB!.shutdown()]);
  await Promise.all([runningA, runningB]);
  await Promise.all([workerA.close(), workerB!.close()]);

  const { produced, processed, lost, duplicates } = ledger.summary();
  if (!complete) say(`not every record was processed within 60 s`);
  say(`demo: produced=${produced} processed=${processed} lost=${lost} duplicates=${duplicates}`);
  return lost === 0 ? 0 : 1;
}

interface LiveState extends AsyncDisposable {
  readonly publisher: LeaseStatePublisher | undefined;
  /** A coordination bus for one worker, when NATS is there. */
  createBus(streamName: string): CoordinationBus | undefined;
}

/** Coordination and lease states over NATS when a local server answers; nothing otherwise. */
async function connectLiveState(): Promise<LiveState> {
  const link = connectNats({ servers: '127.0.0.1:4222', name: 'shoal-demo', logger: logger.child({ component: 'nats' }) });
  if (!(await link.ready(1_000))) {
    await link.close();
    say('NATS not reachable on 127.0.0.1:4222: coordinating through the lease table alone, no live lease states');
    return { publisher: undefined, createBus: () => undefined, [Symbol.asyncDispose]: async () => {} };
  }
  const publisher = NatsLeaseStatePublisher.create({ link, application: APPLICATION, logger });
  const buses: CoordinationBus[] = [];
  say(`coordinating over NATS; every lease transition is published on shoal.${APPLICATION}.lease.*`);
  return {
    publisher,
    createBus: (streamName) => {
      const bus = new NatsCoordinationBus({ link, application: APPLICATION, streamName, logger });
      buses.push(bus);
      return bus;
    },
    [Symbol.asyncDispose]: async () => {
      await publisher.close();
      for (const bus of buses) await bus.close();
      await link.close();
    },
  };
}

async function waitForBalance(workers: readonly Worker[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const owned = (worker: Worker) => worker.leases().filter((lease) => lease.state.startsWith('owned')).length;
  while (Date.now() < deadline && !workers.every((worker) => owned(worker) === SHARD_COUNT / workers.length)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

class ProgressBar {
  private lastLine = '';
  constructor(private readonly total: number) {}

  update(produced: number, processed: number, done = false): void {
    const width = 30;
    const bar = (count: number) => '#'.repeat(Math.round((count / this.total) * width)).padEnd(width, '.');
    const line = `produced [${bar(produced)}] ${produced}/${this.total}   processed [${bar(processed)}] ${processed}`;
    if (line === this.lastLine && !done) return;
    this.lastLine = line;
    if (process.stdout.isTTY) process.stdout.write(`\r${line}${done ? '\n' : ''}`);
    else if (done || produced % 1000 === 0) say(line);
  }

  note(text: string): void {
    if (process.stdout.isTTY) process.stdout.write('\n');
    say(text);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    logger.fatal({ err: error }, 'demo failed');
    process.stderr.write(`demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
