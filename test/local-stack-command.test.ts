import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DescribeStreamSummaryCommand, GetRecordsCommand, GetShardIteratorCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { emulatorClientConfig } from '@shoal/local-stack';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from './support/worker-harness.js';

/** `shoal local-stack` as a user runs it in a terminal: start, read the endpoints, Ctrl-C. */
const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const children: ReturnType<typeof spawn>[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface Ready {
  stream: string;
  shards: number;
  kinesisEndpoint: string;
  dynamodbEndpoint: string;
  region: string;
}

describe('shoal local-stack', () => {
  it('starts the emulators with a stream, writes sample records, and stops everything it started on Ctrl-C', async () => {
    const child = spawn(process.execPath, [CLI, 'local-stack', '--stream', 'try-it', '--shards', '3', '--produce', '50', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const firstLine = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no endpoints printed within 30 s')), 30_000);
      createInterface({ input: child.stdout }).once('line', (line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
    const ready = JSON.parse(firstLine) as Ready;
    expect(ready).toMatchObject({ stream: 'try-it', shards: 3 });
    expect(ready.kinesisEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const kinesis = new KinesisClient(emulatorClientConfig('kinesis', ready));
    try {
      const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: 'try-it' }));
      expect(StreamDescriptionSummary?.OpenShardCount).toBe(3);
      // Sample records arrive, spread over the shards.
      await eventually(async () => {
        let records = 0;
        for (const ShardId of ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002']) {
          const { ShardIterator } = await kinesis.send(
            new GetShardIteratorCommand({ StreamName: 'try-it', ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
          );
          records += (await kinesis.send(new GetRecordsCommand({ ShardIterator }))).Records?.length ?? 0;
        }
        return records >= 50;
      }, 'sample records are written');
    } finally {
      kinesis.destroy();
    }

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    // Its emulators are gone with it.
    await expect(fetch(ready.kinesisEndpoint)).rejects.toThrow();
    await expect(fetch(ready.dynamodbEndpoint)).rejects.toThrow();
  });
});
