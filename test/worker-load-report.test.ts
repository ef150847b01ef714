import { randomUUID } from 'node:crypto';
import { RedisWorkerLoadStore, type WorkerLoad } from '@shoal/coordinator';
import { produceRecords } from '@shoal/local-stack';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, useLocalStack } from './support/worker-harness.js';

// An in-process Worker on the emulators reporting its load to the real Redis on loopback; fails
// (never skips) when Redis does not answer.
const REDIS_URL = 'redis://127.0.0.1:6379';
const REPORT_INTERVAL_MS = 200;

const local = useLocalStack();

interface LogLine {
  level: number;
  msg: string;
}

describe('a worker reporting its load to Redis', () => {
  let admin: Redis;
  const cleanups: (() => Promise<unknown> | void)[] = [];
  const keyPrefixes: string[] = [];

  beforeAll(async () => {
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2_000, lazyConnect: true });
    admin.on('error', () => undefined);
    await admin.connect();
    expect(await admin.ping()).toBe('PONG');
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    for (const prefix of keyPrefixes.splice(0)) {
      const keys = await admin.keys(`${prefix}:*`);
      if (keys.length > 0) await admin.del(...keys);
    }
  });

  afterAll(async () => {
    await admin?.quit();
  });

  it('shows the worker’s records per second while it processes, and drops it after it stops', async () => {
    const stream = await local.createTestStream(2);
    const keyPrefix = `shoal-test:worker-load-report:${randomUUID()}`;
    keyPrefixes.push(keyPrefix);
    const lines: LogLine[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
    const store = await RedisWorkerLoadStore.create({ redis: REDIS_URL, keyPrefix, reportIntervalMs: REPORT_INTERVAL_MS, logger });
    cleanups.push(() => store.close());
    const startedAt = Date.now();

    const worker = await stream.createWorker({
      workerId: 'loaded-worker',
      workerLoadStore: store,
      loadReportIntervalMs: REPORT_INTERVAL_MS,
    });
    const running = worker.run();

    // Records keep arriving while the reports are checked, so some report window holds some.
    const producer = new AbortController();
    cleanups.push(() => producer.abort());
    const producing = produceRecords({
      kinesis: local.stack().kinesis,
      streamName: stream.streamName,
      count: 4_000,
      batchSize: 20,
      pauseMs: 20,
      ledger: stream.ledger,
      signal: producer.signal,
    }).catch((error: unknown) => {
      if (!producer.signal.aborted) throw error;
      return 0;
    });

    let seen: WorkerLoad | undefined;
    await eventually(
      async () => {
        seen = (await store.readAll(stream.applicationName)).get(worker.workerId);
        return seen !== undefined && seen.recordsPerSecond > 0;
      },
      'a load report with records per second > 0',
      30_000,
    );
    expect(stream.ledger.processedCount).toBeGreaterThan(0);
    expect(seen!.eventLoopLagMs).toBeGreaterThanOrEqual(0);
    expect(seen!.reportedAt).toBeGreaterThanOrEqual(startedAt);
    expect(seen!.reportedAt).toBeLessThanOrEqual(Date.now() + 1_000);

    // Stored where the store says: one hash per application, expiring by itself.
    const key = `${keyPrefix}:${stream.applicationName}`;
    expect(await admin.hexists(key, worker.workerId)).toBe(1);
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3 * REPORT_INTERVAL_MS);
    // Only this worker reports for this application.
    expect([...(await store.readAll(stream.applicationName)).keys()]).toEqual([worker.workerId]);

    producer.abort();
    await producing;
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    expect(stream.ledger.summary()).toMatchObject({ lost: 0, duplicates: 0 });

    // Once the worker stops, it stops reporting and its load expires.
    await worker.shutdown();
    await running;
    await eventually(
      async () => !(await store.readAll(stream.applicationName)).has(worker.workerId),
      'the stopped worker’s load expires',
      10_000,
    );
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
  });
});
