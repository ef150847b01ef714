import { produceRecords } from '@shoal/local-stack';
import { afterEach, describe, expect, it } from 'vitest';
import { shoalInProcess } from './support/run-cli.js';
import { eventually, ownedLeaseCount, useLocalStack, type TestStream } from './support/worker-harness.js';

/** `shoal status` on a running fleet: the lease table on the emulators, machine states on NATS. */
const local = useLocalStack();
const streams: TestStream[] = [];

afterEach(async () => {
  for (const stream of streams.splice(0)) await stream.close();
});

const status = (args: readonly string[]) => shoalInProcess(['status', ...args]);

/** The flags that point `shoal status` at the stream's application and lease table on the emulator. */
function tableOf(stream: TestStream): string[] {
  return [
    ...['--application', stream.applicationName, '--stream', stream.streamName],
    ...['--lease-table', stream.leaseTableName, '--dynamodb-endpoint', local.stack().dynamodbEndpoint],
  ];
}

interface StatusJson {
  shards: { shardId: string; owner?: string; state?: string; leaseCounter: number; checkpoint: string; checkpointAgeMs?: number }[];
  workers: { workerId: string; leases: number; liveness: string; status: string }[];
  machineStates: boolean;
}

describe('shoal status', () => {
  it('shows each shard’s owner, machine state and checkpoint, and each worker’s leases and liveness', async () => {
    const stream = await local.createTestStream(4);
    streams.push(stream);
    const fleet = await Promise.all(
      ['status-a', 'status-b'].map((workerId) => stream.createWorker({ workerId, nats: { servers: '127.0.0.1:4222' } })),
    );
    for (const worker of fleet) void worker.run();
    await eventually(() => fleet.every((worker) => ownedLeaseCount(worker) === 2), 'the 4 leases are held 2 and 2');
    await produceRecords({
      kinesis: local.stack().kinesis,
      streamName: stream.streamName,
      count: 80,
      batchSize: 40,
      keyCount: 8,
      ledger: stream.ledger,
    });
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    const args = tableOf(stream);

    let report: StatusJson | undefined;
    await eventually(async () => {
      const { code, stdout } = await status([...args, '--json']);
      report = JSON.parse(stdout) as StatusJson;
      return (
        code === 0 &&
        report.shards.length === 4 &&
        report.shards.every((shard) => shard.state === 'owned.processing') &&
        report.shards.some((shard) => /^\d+$/.test(shard.checkpoint) && shard.checkpointAgeMs !== undefined)
      );
    }, 'every shard shows as processing, with checkpoints where records were');
    expect(report!.machineStates).toBe(true);
    expect(report!.shards.map((shard) => shard.shardId)).toEqual([
      'shardId-000000000000',
      'shardId-000000000001',
      'shardId-000000000002',
      'shardId-000000000003',
    ]);
    expect(report!.workers.map(({ workerId, leases }) => ({ workerId, leases }))).toEqual([
      { workerId: 'status-a', leases: 2 },
      { workerId: 'status-b', leases: 2 },
    ]);
    for (const worker of report!.workers) expect(worker.status).toBe('active');

    const table = await status(args);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^SHARD +OWNER +STATE +COUNTER +CHECKPOINT +CHECKPOINTED/m);
    expect(table.stdout).toMatch(/^WORKER +LEASES +LIVENESS +STATUS/m);
    expect(table.stdout).toContain('4 shards, 0 unowned, 2 workers');
  });

  it('shows the table alone when NATS does not answer, and fails naming the table it cannot read', async () => {
    const stream = await local.createTestStream(1);
    streams.push(stream);
    const worker = await stream.createWorker({ workerId: 'tables-only' });
    void worker.run();
    await eventually(() => ownedLeaseCount(worker) === 1, 'the lease is held');
    const dynamodb = ['--dynamodb-endpoint', local.stack().dynamodbEndpoint];
    const noNats = await status([...tableOf(stream), '--nats', '127.0.0.1:1', '--connect-timeout-ms', '300']);
    expect(noNats.code).toBe(0);
    expect(noNats.stdout).toContain('(no machine states: NATS did not answer)');
    expect(noNats.stdout).toContain('tables-only');
    const missing = await status([
      '--application',
      stream.applicationName,
      '--lease-table',
      'no-such-table',
      ...dynamodb,
      '--connect-timeout-ms',
      '300',
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('shoal status: cannot read the lease table no-such-table');
  });
});
