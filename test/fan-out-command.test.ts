import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { produceRecords, uniqueName } from '@shoal/local-stack';
import { afterEach, describe, expect, it } from 'vitest';
import { exitCodeWithin, fromTheStart, useShoalProcesses } from './support/cli-process.js';
import { shoalInProcess } from './support/run-cli.js';
import { eventually, useLocalStack } from './support/worker-harness.js';

const PROCESSOR = fileURLToPath(new URL('./fixtures/cli-processor.mjs', import.meta.url));

/**
 * `shoal worker --fan-out-consumer` reads a stream by enhanced fan-out, and `shoal fan-out list`
 * and `deregister` operate on the consumer it registered; on kinesis-local.
 */
const local = useLocalStack({ kinesis: 'kinesis-local', shardLimit: 20 });
const shoal = useShoalProcesses();
let scratch: string | undefined;
afterEach(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
});

describe('shoal worker --fan-out-consumer and shoal fan-out', () => {
  it('reads through the consumer it registers, which stays until deregistered by hand', { timeout: 90_000 }, async () => {
    const stack = local.stack();
    const stream = uniqueName('efo-cli');
    await stack.createStream(stream, 2);
    scratch = await mkdtemp(join(tmpdir(), 'shoal-efo-'));
    const processedFile = join(scratch, 'processed');
    const endpoint = ['--kinesis-endpoint', stack.endpoints.kinesisEndpoint];
    const worker = shoal(
      [
        'worker',
        '--processor',
        PROCESSOR,
        '--stream',
        stream,
        '--application',
        uniqueName('efo-app'),
        '--lease-table',
        uniqueName('leases'),
        '--fan-out-consumer',
        'billing',
        ...fromTheStart(stack.endpoints),
      ],
      { SHOAL_TEST_PROCESSED_FILE: processedFile },
    );
    const produced = await produceRecords({ kinesis: stack.kinesis, streamName: stream, count: 60, keyCount: 6 });
    const processed = () => (existsSync(processedFile) ? readFileSync(processedFile, 'utf8').trim().split('\n').length : 0);
    await eventually(() => processed() >= produced, 'every record processed', 60_000);

    const listed = await shoalInProcess(['fan-out', 'list', '--stream', stream, ...endpoint, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ stream, consumers: [{ name: 'billing', status: 'ACTIVE' }] });

    worker.kill('SIGTERM');
    expect(await exitCodeWithin(worker, 20_000), worker.stderr()).toBe(0);
    // Stopping the worker left the consumer registered.
    expect((await shoalInProcess(['fan-out', 'list', '--stream', stream, ...endpoint])).stdout).toMatch(/^billing\tACTIVE\t/);

    const removed = await shoalInProcess(['fan-out', 'deregister', '--stream', stream, '--consumer', 'billing', ...endpoint]);
    expect(removed).toMatchObject({ code: 0, stdout: `deregistered consumer billing from stream ${stream}\n` });
    const again = await shoalInProcess(['fan-out', 'deregister', '--stream', stream, '--consumer', 'billing', ...endpoint]);
    expect(again).toMatchObject({ code: 1, stderr: `stream ${stream} has no consumer named billing\n` });
    expect((await shoalInProcess(['fan-out', 'list', '--stream', stream, ...endpoint])).stdout).toBe(
      `stream ${stream} has no registered consumers\n`,
    );
  });

  it('names a missing stream or option', async () => {
    const endpoint = ['--kinesis-endpoint', local.stack().endpoints.kinesisEndpoint];
    const noConsumer = await shoalInProcess(['fan-out', 'deregister', '--stream', 'orders', ...endpoint]);
    expect(noConsumer.code).toBe(1);
    expect(noConsumer.stderr).toContain("required option '--consumer <name>' not specified");
    const missing = await shoalInProcess(['fan-out', 'list', '--stream', uniqueName('missing'), ...endpoint]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ResourceNotFoundException: /);
  });
});
