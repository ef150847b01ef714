import { createServer } from 'node:net';
import { parseRecordId, produceRecords } from '@shoal/local-stack';
import { InvalidOptionsError } from '@shoal/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, processorWith, useLocalStack, type TestStream } from './support/worker-harness.js';

/**
 * A worker's `/metrics`, `/healthz` and `/readyz`, scraped over HTTP on loopback while it
 * consumes a stream on the emulators.
 */
const local = useLocalStack();
const streams: TestStream[] = [];

afterEach(async () => {
  for (const stream of streams.splice(0)) await stream.close();
});

/** The value of one series, by name and labels, from Prometheus text; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const total = text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
    .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
  return total.length === 0 ? undefined : total.reduce((sum, value) => sum + value, 0);
}

describe('worker metrics and health', () => {
  it('counts records, bytes, lag, GetRecords, checkpoints, processor errors and leases, and answers its probes', async () => {
    const stream = await local.createTestStream(2);
    streams.push(stream);
    let failedOnce = false;
    const worker = await stream.createWorker({
      workerId: 'measured',
      metrics: { port: 0, host: '127.0.0.1' },
      processorFactory: () =>
        processorWith(async ({ records, checkpointer }) => {
          if (!failedOnce) {
            failedOnce = true;
            throw new Error('a poison batch, once');
          }
          for (const record of records) stream.ledger.recordProcessed(parseRecordId(record.data));
          await checkpointer.checkpoint();
        }),
    });
    const base = `http://127.0.0.1:${worker.metricsPort}`;
    const get = async (path: string) => {
      const response = await fetch(`${base}${path}`);
      return { status: response.status, text: await response.text() };
    };
    // Up before it runs: alive, not ready.
    expect((await get('/healthz')).status).toBe(200);
    const notReady = await get('/readyz');
    expect(notReady.status).toBe(503);
    expect(JSON.parse(notReady.text).reasons).toContain('the worker is created');

    const running = worker.run();
    await eventually(async () => (await get('/readyz')).status === 200, 'the worker is ready');
    await produceRecords({
      kinesis: local.stack().kinesis,
      streamName: stream.streamName,
      count: 100,
      batchSize: 50,
      keyCount: 10,
      ledger: stream.ledger,
    });
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);

    await eventually(async () => sample((await get('/metrics')).text, 'shoal_records_processed_total') === 100, 'all 100 records counted');
    const { text } = await get('/metrics');
    const labels = { application: stream.applicationName, worker: 'measured' };
    expect(sample(text, 'shoal_records_processed_total', labels)).toBe(100);
    expect(sample(text, 'shoal_bytes_processed_total', labels)).toBeGreaterThan(100 * 10);
    expect(sample(text, 'shoal_processor_errors_total', labels)).toBe(1);
    expect(sample(text, 'shoal_checkpoints_total', { result: 'written' })).toBeGreaterThan(0);
    expect(sample(text, 'shoal_get_records_total', { outcome: 'ok' })).toBeGreaterThan(0);
    expect(sample(text, 'shoal_process_records_duration_seconds_count', { stream: stream.streamName })).toBeGreaterThanOrEqual(2);
    for (const shard of ['shardId-000000000000', 'shardId-000000000001']) {
      expect(sample(text, 'shoal_millis_behind_latest', { shard })).toBeGreaterThanOrEqual(0);
    }
    expect(sample(text, 'shoal_leases', { state: 'owned' })).toBe(2);
    expect(sample(text, 'shoal_lease_transitions_total', { state: 'owned' })).toBe(2);
    expect(sample(text, 'shoal_liveness_mode', { mode: 'table' })).toBe(1);
    expect(sample(text, 'shoal_leader')).toBe(0);
    expect(sample(text, 'shoal_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect((await get('/nothing')).status).toBe(404);

    await worker.shutdown();
    await running;
    // Its leases ended: their per-shard series are gone.
    const after = (await get('/metrics')).text;
    expect(sample(after, 'shoal_records_processed_total')).toBeUndefined();
    expect(sample(after, 'shoal_lease_transitions_total', { state: 'ended' })).toBe(2);
    await worker.close();
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it('as leader on the coordination bus, exports the workers the fleet should have and the application’s largest lag', async () => {
    const stream = await local.createTestStream(4);
    streams.push(stream);
    const worker = await stream.createWorker({
      workerId: 'leading',
      metrics: { port: 0, host: '127.0.0.1', targetLeasesPerWorker: 3 },
      nats: { servers: '127.0.0.1:4222' },
      redis: { url: 'redis://127.0.0.1:6379' },
      loadReportIntervalMs: 200,
    });
    void worker.run();
    const scrape = async () => (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text();
    await eventually(async () => sample(await scrape(), 'shoal_desired_workers') === 2, '4 leases at 3 a worker want 2 workers');
    expect(sample(await scrape(), 'shoal_leader')).toBe(1);
    // Its own grants move it to `nats` liveness soon after it leads.
    await eventually(async () => sample(await scrape(), 'shoal_liveness_mode', { mode: 'nats' }) === 1, 'the worker lives on grants');
    // With load reports on Redis, the leader shows the application's largest shard lag.
    await produceRecords({
      kinesis: local.stack().kinesis,
      streamName: stream.streamName,
      count: 40,
      batchSize: 40,
      keyCount: 16,
      ledger: stream.ledger,
    });
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    await eventually(async () => (sample(await scrape(), 'shoal_application_max_lag_millis') ?? -1) >= 0, 'the application’s lag is shown');
  });

  it('fails at create, naming the option, when the metrics port is taken', async () => {
    const stream = await local.createTestStream(1);
    streams.push(stream);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      const created = stream.createWorker({ metrics: { port, host: '127.0.0.1' } });
      await expect(created).rejects.toBeInstanceOf(InvalidOptionsError);
      await expect(created).rejects.toThrow(`metrics: cannot listen on 127.0.0.1:${port} (EADDRINUSE)`);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
