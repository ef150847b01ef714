import { CreateTableCommand, GetItemCommand, ListTablesCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  ListStreamsCommand,
  PutRecordsCommand,
  UpdateShardCountCommand,
} from '@aws-sdk/client-kinesis';
import {
  createEmulatorClients,
  EmulatorProcess,
  EmulatorStartError,
  emulatorClientConfig,
  emulatorHostPath,
  endpointsFromEnv,
  LocalStack,
  OutputTail,
  uniqueName,
  type EmulatorKind,
} from '../src/index.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe('LocalStack with kinesalite and dynalite', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await LocalStack.start();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('listens on loopback and exposes its configuration', () => {
    expect(stack.kinesisEmulator).toBe('kinesalite');
    expect(stack.region).toBe('us-east-1');
    expect(stack.kinesisEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.dynamodbEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.kinesisEndpoint).not.toBe(stack.dynamodbEndpoint);
    expect(stack.credentials.accessKeyId).not.toBe('');
    expect(stack.running).toBe(true);
    const config = stack.clientConfig('kinesis');
    expect(config.endpoint).toBe(stack.kinesisEndpoint);
    expect(config.region).toBe('us-east-1');
    expect(config.requestHandler).not.toBe(stack.clientConfig('kinesis').requestHandler);
  });

  it('round-trips records through a 4-shard stream', async () => {
    const stream = uniqueName('roundtrip');
    const arn = await stack.createStream(stream, 4);
    expect(arn).toContain(stream);

    const { Shards: shards = [] } = await stack.kinesis.send(new ListShardsCommand({ StreamName: stream }));
    expect(shards).toHaveLength(4);

    const sent = Array.from({ length: 40 }, (_, i) => `record-${i}`);
    const put = await stack.kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: sent.map((data, i) => ({ Data: encoder.encode(data), PartitionKey: `pk-${i}` })),
      }),
    );
    expect(put.FailedRecordCount ?? 0).toBe(0);

    const received: string[] = [];
    for (const shard of shards) {
      const { ShardIterator } = await stack.kinesis.send(
        new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      const { Records = [] } = await stack.kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 1000 }));
      for (const record of Records) received.push(decoder.decode(record.Data));
    }
    expect(received.sort()).toEqual([...sent].sort());

    await stack.deleteStream(stream);
    const { StreamNames = [] } = await stack.kinesis.send(new ListStreamsCommand({}));
    expect(StreamNames).not.toContain(stream);
    await stack.deleteStream(stream); // a missing stream counts as deleted
  });

  it('round-trips a DynamoDB item', async () => {
    const table = uniqueName('leases');
    await stack.dynamodb.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await stack.dynamodb.send(
      new PutItemCommand({
        TableName: table,
        Item: { leaseKey: { S: 'shardId-000000000000' }, leaseCounter: { N: '1' } },
        ConditionExpression: 'attribute_not_exists(leaseKey)',
      }),
    );
    const { Item } = await stack.dynamodb.send(
      new GetItemCommand({ TableName: table, Key: { leaseKey: { S: 'shardId-000000000000' } }, ConsistentRead: true }),
    );
    expect(Item).toEqual({ leaseKey: { S: 'shardId-000000000000' }, leaseCounter: { N: '1' } });
  });

  it('lets another process rebuild clients from environment variables', async () => {
    const endpoints = endpointsFromEnv(stack.env());
    expect(endpoints).toEqual(stack.endpoints);
    expect(endpointsFromEnv({})).toBeUndefined();
    const clients = createEmulatorClients(endpoints ?? stack.endpoints);
    try {
      await expect(clients.kinesis.send(new ListStreamsCommand({}))).resolves.toHaveProperty('StreamNames');
      await expect(clients.dynamodb.send(new ListTablesCommand({}))).resolves.toHaveProperty('TableNames');
    } finally {
      clients.kinesis.destroy();
      clients.dynamodb.destroy();
    }
    const own = new KinesisClient({ ...stack.clientConfig('kinesis'), maxAttempts: 1 });
    try {
      await expect(own.send(new ListStreamsCommand({}))).resolves.toHaveProperty('StreamNames');
    } finally {
      own.destroy();
    }
  });
});

describe('stopping', () => {
  it('stop() leaves no emulator process alive, and a second stop() is fine', async () => {
    const stack = await LocalStack.start();
    const { kinesis, dynamodb } = stack.pids;
    expect(isAlive(kinesis)).toBe(true);
    expect(isAlive(dynamodb)).toBe(true);

    await stack.stop();
    expect(isAlive(kinesis)).toBe(false);
    expect(isAlive(dynamodb)).toBe(false);
    expect(stack.running).toBe(false);
    await expect(stack.stop()).resolves.toBeUndefined();
  });

  it('supports await using', async () => {
    let pids: number[] = [];
    {
      await using stack = await LocalStack.start();
      pids = [stack.pids.kinesis, stack.pids.dynamodb];
      expect(pids.every(isAlive)).toBe(true);
    }
    expect(pids.some(isAlive)).toBe(false);
  });
});

describe('start-up failures', () => {
  it('names the emulator and shows its output when the host reports an error', async () => {
    const error = await EmulatorProcess.start('nonsense' as EmulatorKind).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(EmulatorStartError);
    const startError = error as EmulatorStartError;
    expect(startError.emulator).toBe('nonsense');
    expect(startError.message).toMatch(/^nonsense failed to start: /);
    expect(startError.output).toContain('unknown emulator');
    expect(startError.pid).toBeTypeOf('number');
    expect(isAlive(startError.pid ?? -1)).toBe(false);
  });

  it('gives up when no port is reported in time and kills the host', async () => {
    const error = await EmulatorProcess.start('kinesalite', { startTimeoutMs: 1 }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(EmulatorStartError);
    const startError = error as EmulatorStartError;
    expect(startError.message).toMatch(/^kinesalite failed to start: no port reported within 1 ms/);
    expect(isAlive(startError.pid ?? -1)).toBe(false);
  });

  it('LocalStack.start rejects and stops everything', async () => {
    await expect(LocalStack.start({ startTimeoutMs: 1 })).rejects.toThrow(/failed to start/);
    await expect(LocalStack.start({ kinesis: 'localstack' as 'kinesalite' })).rejects.toThrow(RangeError);
    await expect(LocalStack.start({ shardLimit: 0 })).rejects.toThrow(RangeError);
  });
});

describe('emulator host', () => {
  it('ships next to the sources', () => {
    expect(existsSync(emulatorHostPath())).toBe(true);
  });

  it.each(['kinesalite', 'dynalite', 'kinesis-local'] as const)(
    '%s host exits when its parent disconnects',
    async (kind) => {
      const child = spawn(process.execPath, [emulatorHostPath(), kind, '{}'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      child.stdout?.resume();
      child.stderr?.resume();
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        const message = await new Promise<unknown>((resolve, reject) => {
          child.once('message', resolve);
          child.once('exit', (code) => reject(new Error(`host exited with ${code}`)));
        });
        expect(message).toMatchObject({ type: 'ready', emulator: kind, pid: child.pid });
        const port = (message as { port: number }).port;

        // Leave a keep-alive connection open: kinesis-local's own process.exit would wait for it.
        const endpoint = `http://127.0.0.1:${port}`;
        const client = new KinesisClient(
          emulatorClientConfig('kinesis', { kinesisEndpoint: endpoint, dynamodbEndpoint: endpoint, region: 'us-east-1' }),
        );
        if (kind !== 'dynalite') await client.send(new ListStreamsCommand({}));

        const disconnectedAt = Date.now();
        child.disconnect();
        expect(await exited).toBe(0);
        expect(Date.now() - disconnectedAt).toBeLessThan(2_000);
        client.destroy();
      } finally {
        child.kill('SIGKILL');
      }
    },
    30_000,
  );
});

describe('LocalStack with kinesis-local', () => {
  it('starts and supports UpdateShardCount', { timeout: 60_000 }, async () => {
    await using stack = await LocalStack.start({ kinesis: 'kinesis-local', shardLimit: 50 });
    expect(stack.kinesisEmulator).toBe('kinesis-local');
    const stream = uniqueName('scaling');
    await stack.createStream(stream, 2);

    await stack.kinesis.send(new UpdateShardCountCommand({ StreamName: stream, TargetShardCount: 4, ScalingType: 'UNIFORM_SCALING' }));
    const summary = await stack.waitForStreamActive(stream);
    expect(summary.OpenShardCount).toBe(4);
    const { Shards = [] } = await stack.kinesis.send(new ListShardsCommand({ StreamName: stream, ShardFilter: { Type: 'AT_LATEST' } }));
    expect(Shards).toHaveLength(4);
    await stack.deleteStream(stream);
  });
});

describe('helpers', () => {
  it('uniqueName makes distinct names valid for streams and tables', () => {
    const names = new Set(Array.from({ length: 100 }, () => uniqueName('orders')));
    expect(names.size).toBe(100);
    for (const name of names) expect(name).toMatch(/^orders-[a-z0-9]+-[0-9a-f]{8}$/);
    expect(uniqueName('a b/c.d')).toMatch(/^a-b-c-d-/);
    expect(uniqueName('')).toMatch(/^shoal-/);
    const long = uniqueName('x'.repeat(500));
    expect(long.length).toBeLessThanOrEqual(128);
    expect(long).toMatch(/^[a-zA-Z0-9_.-]+$/);
  });

  it('OutputTail keeps only the last lines', () => {
    const tail = new OutputTail(3);
    tail.push('one\ntwo\nthr');
    tail.push(Buffer.from('ee\nfour\nfive\nsix'));
    expect(tail.lines()).toEqual(['three', 'four', 'five', 'six']);
    expect(tail.toString()).toBe('three\nfour\nfive\nsix');
  });
});
