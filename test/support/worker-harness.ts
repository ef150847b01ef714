import { KinesisClient } from '@aws-sdk/client-kinesis';
import { LocalStack, RecordLedger, parseRecordId, uniqueName, type LocalStackOptions } from '@shoal/local-stack';
import type { KinesisRecord, ShardRecordProcessor, ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import { Worker, type WorkerOptions } from '@shoal/runtime';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll } from 'vitest';

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Fast timings so tests converge in well under a second per step. */
export const FAST_TIMINGS = {
  leaseDurationMs: 3_000,
  heartbeatIntervalMs: 500,
  leaseSyncIntervalMs: 200,
  drainTimeoutMs: 5_000,
  processorRetryBaseMs: 20,
  processorRetryMaxMs: 200,
  retrieval: {
    idleTimeBetweenReadsMs: 50,
    maxIdleTimeBetweenReadsMs: 200,
    retryBaseMs: 20,
    retryMaxMs: 200,
    maxRecordsPerCall: 10_000,
    maxBufferedRecords: 20_000,
    maxBufferedBytes: 32 * 1024 * 1024,
  },
} satisfies Partial<WorkerOptions>;

/**
 * A processor built around `processRecords`: it checkpoints SHARD_END in `shardEnded`, and in
 * `shutdownRequested` checkpoints what was processed unless `checkpointOnShutdown` is false.
 */
export function processorWith(
  processRecords: ShardRecordProcessor['processRecords'],
  options: { checkpointOnShutdown?: boolean } = {},
): ShardRecordProcessor {
  return {
    processRecords,
    async shardEnded({ checkpointer }) {
      await checkpointer.checkpoint();
    },
    async shutdownRequested({ checkpointer }) {
      if (options.checkpointOnShutdown !== false) await checkpointer.checkpoint();
    },
  };
}

/** A processor that records every record in the ledger and checkpoints after each batch. */
export function ledgerProcessor(ledger: RecordLedger): ShardRecordProcessorFactory {
  return () =>
    processorWith(async ({ records, checkpointer }) => {
      for (const record of records) ledger.recordProcessed(parseRecordId(record.data));
      await checkpointer.checkpoint();
    });
}

/**
 * One emulator stack for the whole test file, and a fresh stream per test that is closed
 * (workers shut down, clients destroyed) after the test, pass or fail.
 */
export function useLocalStack(options: LocalStackOptions = {}): {
  stack(): LocalStack;
  createTestStream(shardCount: number): Promise<TestStream>;
} {
  let stack: LocalStack | undefined;
  const streams: TestStream[] = [];
  beforeAll(async () => {
    stack = await LocalStack.start(options);
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) await stream.close();
  });
  afterAll(async () => {
    await stack?.stop();
  });
  const current = () => {
    if (!stack) throw new Error('the local stack is not running (use it inside a test)');
    return stack;
  };
  return {
    stack: current,
    async createTestStream(shardCount) {
      const stream = await createTestStream(current(), shardCount);
      streams.push(stream);
      return stream;
    },
  };
}

export interface TestStream {
  readonly streamName: string;
  readonly applicationName: string;
  readonly leaseTableName: string;
  readonly ledger: RecordLedger;
  /** A Kinesis client of its own (for fault injection); destroyed by `close()`. */
  createKinesisClient(): KinesisClient;
  createWorker(options?: Partial<WorkerOptions>): Promise<Worker>;
  /** Shuts down and closes every worker created here, and destroys the clients. */
  close(): Promise<void>;
}

/** A fresh stream, application and lease table on the shared stack, for one test. */
export async function createTestStream(stack: LocalStack, shardCount: number): Promise<TestStream> {
  const streamName = uniqueName('stream');
  await stack.createStream(streamName, shardCount);
  const ledger = new RecordLedger();
  const workers: Worker[] = [];
  const clients: KinesisClient[] = [];
  const applicationName = uniqueName('app');
  const leaseTableName = uniqueName('leases');
  return {
    streamName,
    applicationName,
    leaseTableName,
    ledger,
    createKinesisClient() {
      const client = new KinesisClient(stack.clientConfig('kinesis'));
      clients.push(client);
      return client;
    },
    async createWorker(options = {}) {
      const worker = await Worker.create({
        applicationName,
        streamName,
        leaseTableName,
        initialPosition: 'TRIM_HORIZON',
        processorFactory: ledgerProcessor(ledger),
        kinesis: stack.clientConfig('kinesis'),
        dynamoDb: stack.clientConfig('dynamodb'),
        logger: silentLogger,
        ...FAST_TIMINGS,
        ...options,
      });
      workers.push(worker);
      return worker;
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.close()));
      for (const client of clients) client.destroy();
    },
  };
}

/** Polls until `condition` holds; fails the test with `what` after `timeoutMs`. */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function ownedLeaseCount(worker: Worker): number {
  return worker.leases().filter((lease) => lease.state.startsWith('owned')).length;
}

export function recordId(record: KinesisRecord): string {
  return parseRecordId(record.data);
}
