import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import { DynamoDbLeaseStore, leaseNamespace } from '@shoal/coordinator';
import { RecordLedger, freeLoopbackPort, parseRecordId, produceRecords, uniqueName } from '@shoal/local-stack';
import { describe, expect, it } from 'vitest';
import { exitCodeWithin, fromTheStart, useShoalProcesses } from './support/cli-process.js';
import { eventually, useLocalStack } from './support/worker-harness.js';

/**
 * `shoal worker` as a container runs it: a process started with flags, SHOAL_* variables and a
 * config file, loading the user's processor module, stopped with SIGTERM. On the emulators.
 */
const PROCESSOR = fileURLToPath(new URL('./fixtures/cli-processor.mjs', import.meta.url));
const local = useLocalStack();
const shoal = useShoalProcesses();

describe('shoal worker', () => {
  it('runs a processor module with options from flags, variables and a config file, and drains on SIGTERM', async () => {
    const stack = local.stack();
    const streamName = uniqueName('cli');
    await stack.createStream(streamName, 2);
    const applicationName = uniqueName('app');
    const leaseTableName = uniqueName('leases');
    const dir = mkdtempSync(join(tmpdir(), 'shoal-cli-'));
    const processedFile = join(dir, 'processed.txt');
    const configFile = join(dir, 'shoal.json');
    // The file gives the stream and timings; a variable the application; flags the rest.
    writeFileSync(configFile, JSON.stringify({ streamName, leaseTableName: 'overridden-by-the-flag', drainTimeoutMs: 5_000 }));
    const metricsPort = await freeLoopbackPort();
    const run = shoal(
      [
        'worker',
        '--metrics-port',
        String(metricsPort),
        '--metrics-host',
        '127.0.0.1',
        '--processor',
        PROCESSOR,
        '--config',
        configFile,
        '--lease-table',
        leaseTableName,
        ...fromTheStart(stack.endpoints),
      ],
      { SHOAL_APPLICATION: applicationName, SHOAL_WORKER_ID: 'cli-worker', SHOAL_TEST_PROCESSED_FILE: processedFile },
    );

    const ledger = new RecordLedger();
    await produceRecords({ kinesis: stack.kinesis, streamName, count: 200, batchSize: 50, keyCount: 10, ledger });
    const processedIds = () =>
      existsSync(processedFile)
        ? new Set(
            readFileSync(processedFile, 'utf8')
              .split('\n')
              .filter((line) => line.length > 0)
              .map((line) => (JSON.parse(line) as { id: string }).id),
          )
        : new Set<string>();
    await eventually(() => processedIds().size === 200, 'the worker process handles all 200 records', 30_000);
    // Its probes and metrics answer on the port given.
    expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/shoal_records_processed_total\{[^}]*worker="cli-worker"[^}]*\} \d+/);

    run.kill('SIGTERM');
    expect(await exitCodeWithin(run, 20_000), run.stderr()).toBe(0);
    // It drained: both leases released with their checkpoints, and its record removed.
    const client = new DynamoDBClient(stack.clientConfig('dynamodb'));
    try {
      const snapshot = await new DynamoDbLeaseStore({ client, tableName: leaseTableName }).readNamespace(
        leaseNamespace(applicationName, streamName),
      );
      expect(snapshot.leases).toHaveLength(2);
      for (const lease of snapshot.leases) {
        expect(lease.leaseOwner).toBeUndefined();
        expect(lease.checkpoint.type).toBe('SEQUENCE');
      }
      expect(snapshot.workers).toEqual([]);
    } finally {
      client.destroy();
    }
    // Logs are JSON lines on stdout, naming the worker.
    const lines = run
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { workerId?: string });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((line) => line.workerId === 'cli-worker')).toBe(true);
  });

  it('runs the example processor as its README shows', async () => {
    const stack = local.stack();
    const streamName = uniqueName('example');
    await stack.createStream(streamName, 2);
    const example = fileURLToPath(new URL('../examples/key-counts/dist/processor.js', import.meta.url));
    const run = shoal([
      'worker',
      '--processor',
      example,
      '--application',
      uniqueName('key-counts'),
      '--stream',
      streamName,
      ...fromTheStart(stack.endpoints),
    ]);
    await produceRecords({ kinesis: stack.kinesis, streamName, count: 60, batchSize: 30, keyCount: 6 });
    const counted = () =>
      run
        .stdout()
        .split('\n')
        .filter((line) => line.includes('"batch counted"'))
        .reduce((sum, line) => sum + (JSON.parse(line) as { records: number }).records, 0);
    await eventually(() => counted() === 60, 'the example counts all 60 records', 30_000);
    run.kill('SIGTERM');
    expect(await exitCodeWithin(run, 20_000), run.stderr()).toBe(0);
  });

  it('copies a stream to others with --replicate-to instead of a processor module', async () => {
    const stack = local.stack();
    const [source, ...targets] = ['source', 'copy-a', 'copy-b'].map((name) => uniqueName(name));
    await Promise.all([stack.createStream(source!, 2), ...targets.map((name) => stack.createStream(name, 1))]);
    const run = shoal([
      'worker',
      '--replicate-to',
      targets.join(','),
      '--application',
      uniqueName('replicator'),
      '--stream',
      source!,
      ...fromTheStart(stack.endpoints),
    ]);
    await produceRecords({ kinesis: stack.kinesis, streamName: source!, count: 80, batchSize: 40, keyCount: 8 });
    const countIn = async (streamName: string) => {
      const { ShardIterator } = await stack.kinesis.send(
        new GetShardIteratorCommand({ StreamName: streamName, ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }),
      );
      const { Records = [] } = await stack.kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 10_000 }));
      return new Set(Records.map((record) => parseRecordId(record.Data!))).size;
    };
    for (const target of targets) await eventually(async () => (await countIn(target!)) === 80, `${target} has all 80 records`, 30_000);
    run.kill('SIGTERM');
    expect(await exitCodeWithin(run, 20_000), run.stderr()).toBe(0);
  });

  it('fails at start with the problem named: an unknown option in the file, a module without a processor, a bad flag', async () => {
    const { kinesisEndpoint, dynamodbEndpoint } = local.stack().endpoints;
    const dir = mkdtempSync(join(tmpdir(), 'shoal-cli-'));
    const endpoints = ['--kinesis-endpoint', kinesisEndpoint, '--dynamodb-endpoint', dynamodbEndpoint];
    const configFile = join(dir, 'shoal.json');
    writeFileSync(configFile, JSON.stringify({ applicationName: 'app', streamName: 'stream', leaseDurationMillis: 10_000 }));
    const unknownKey = shoal(['worker', '--processor', PROCESSOR, '--config', configFile, ...endpoints]);
    expect(await exitCodeWithin(unknownKey, 20_000)).toBe(1);
    expect(unknownKey.stderr()).toMatch(/shoal worker: invalid options:[\s\S]*leaseDurationMillis/);

    const notAProcessor = join(dir, 'not-a-processor.mjs');
    writeFileSync(notAProcessor, 'export const answer = 42;\n');
    const noFactory = shoal(['worker', '--processor', notAProcessor, '--application', 'app', '--stream', 'stream', ...endpoints]);
    expect(await exitCodeWithin(noFactory, 20_000)).toBe(1);
    expect(noFactory.stderr()).toContain(
      `the processor module ${notAProcessor} exports neither a default function nor \`processorFactory\``,
    );

    const badFlag = shoal(['worker', '--processor', PROCESSOR, '--max-leases-per-worker', '0']);
    expect(await exitCodeWithin(badFlag, 20_000)).toBe(1);
    expect(badFlag.stderr()).toMatch(/--max-leases-per-worker <n>' argument '0' is invalid/);

    const noProcessor = shoal(['worker', '--application', 'app', '--stream', 'stream', ...endpoints]);
    expect(await exitCodeWithin(noProcessor, 20_000)).toBe(1);
    expect(noProcessor.stderr()).toContain('--processor is required');
  });
});
