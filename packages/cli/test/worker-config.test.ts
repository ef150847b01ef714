import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { describe, expect, it } from 'vitest';
import { WorkerStartError, loadProcessorFactory, workerOptionsFrom } from '../src/worker-config.js';

function fileWith(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'shoal-cli-config-')), name);
  writeFileSync(path, text);
  return path;
}

describe('shoal worker options', () => {
  it('takes the config file, then the flags over it', async () => {
    const config = fileWith(
      'shoal.json',
      JSON.stringify({
        processor: './from-file.js',
        applicationName: 'from-file',
        streamName: 'orders',
        drainTimeoutMs: 5_000,
        nats: { servers: 'file-nats:4222', user: 'file-user', pass: 'file-pass' },
      }),
    );
    const { options, processor } = await workerOptionsFrom({ config, application: 'from-flag', natsPassword: 'flag-pass' });
    expect(processor).toEqual({ kind: 'module', path: './from-file.js' });
    expect(options).toMatchObject({
      applicationName: 'from-flag',
      streamName: 'orders',
      drainTimeoutMs: 5_000,
      nats: { servers: 'file-nats:4222', user: 'file-user', pass: 'flag-pass' },
    });
  });

  it('points the clients at endpoints over HTTP/1.1 with a default region, and leaves them to the SDK otherwise', async () => {
    const local = await workerOptionsFrom({
      processor: 'p.js',
      kinesisEndpoint: 'http://127.0.0.1:4567',
      dynamodbEndpoint: 'http://127.0.0.1:4568',
    });
    expect(local.options.kinesis).toMatchObject({ endpoint: 'http://127.0.0.1:4567', region: 'us-east-1' });
    expect((local.options.kinesis as { requestHandler: unknown }).requestHandler).toBeInstanceOf(NodeHttpHandler);
    expect(local.options.dynamoDb).toMatchObject({ endpoint: 'http://127.0.0.1:4568' });
    const aws = await workerOptionsFrom({ processor: 'p.js', region: 'eu-west-1' });
    expect(aws.options.kinesis).toEqual({ region: 'eu-west-1' });
    expect((await workerOptionsFrom({ processor: 'p.js' })).options.kinesis).toBeUndefined();
  });

  it('takes --kpl for replication from a flag or the config file, the flag first', async () => {
    const config = fileWith(
      'shoal.json',
      JSON.stringify({ applicationName: 'copier', streamName: 'orders', replicateTo: ['eu'], kpl: 'deaggregate' }),
    );
    expect((await workerOptionsFrom({ config })).processor).toEqual({ kind: 'replicate', targets: ['eu'], kpl: 'deaggregate' });
    expect((await workerOptionsFrom({ config, kpl: 'forward' })).processor).toEqual({ kind: 'replicate', targets: ['eu'], kpl: 'forward' });
    // Without it the replicator decides (it forwards aggregates).
    expect((await workerOptionsFrom({ stream: 'orders', replicateTo: ['eu'] })).processor).toEqual({ kind: 'replicate', targets: ['eu'] });
  });

  it('reads by enhanced fan-out and autoscales from flags, over the config file', async () => {
    const config = fileWith(
      'shoal.json',
      JSON.stringify({
        fanOut: { consumerName: 'file', maxEventGapMs: 20_000 },
        autoscale: { rules: { maxShards: 64 }, intervalMs: 30_000 },
      }),
    );
    const { options } = await workerOptionsFrom({
      config,
      processor: './p.js',
      fanOutConsumer: 'billing',
      autoscale: true,
      autoscaleStrategy: 'hot-shards',
    });
    expect(options.fanOut).toEqual({ consumerName: 'billing', maxEventGapMs: 20_000 });
    expect(options.autoscale).toEqual({ rules: { maxShards: 64 }, intervalMs: 30_000, strategy: 'hot-shards' });
    const { options: withoutFlags } = await workerOptionsFrom({ processor: './p.js', autoscale: true });
    expect(withoutFlags.autoscale).toEqual({});
  });

  it('names what is wrong with the processor or the config file', async () => {
    await expect(workerOptionsFrom({})).rejects.toThrow(/--processor is required/);
    await expect(workerOptionsFrom({ processor: 'p.js', config: '/nonexistent/shoal.json' })).rejects.toThrow(
      'cannot read the config file /nonexistent/shoal.json (ENOENT)',
    );
    await expect(workerOptionsFrom({ processor: 'p.js', config: fileWith('bad.json', '{ nope') })).rejects.toThrow(/is not JSON/);
    await expect(workerOptionsFrom({ processor: 'p.js', config: fileWith('list.json', '[]') })).rejects.toThrow(
      /must hold one JSON object/,
    );
    await expect(loadProcessorFactory('/nonexistent/processor.js')).rejects.toBeInstanceOf(WorkerStartError);
    const named = fileWith('named.mjs', 'export function processorFactory() { return {}; }\n');
    expect(typeof (await loadProcessorFactory(named))).toBe('function');
  });
});
