import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Kvm } from '@nats-io/kv';
import { nkeys } from '@nats-io/transport-node';
import { DynamoDbLeaseStore, RedisWorkerLoadStore, connectNats, leaseNamespace, leaseStateBucket } from '@shoal/coordinator';
import { produceRecords } from '@shoal/local-stack';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from './support/ports.js';
import { PrivateNatsServer } from './support/private-nats.js';
import { PrivateRedisServer } from './support/private-redis.js';
import { loopbackTlsFiles, type LoopbackTlsFiles } from './support/tls-files.js';
import { eventually, ownedLeaseCount, silentLogger, useLocalStack } from './support/worker-harness.js';

/**
 * `Worker.create` with `nats` and `redis` options builds the coordination bus, the lease-state
 * publisher, the read budget and the load store itself, through authentication and TLS. On a
 * private NATS server (user and password, TLS) and a private Redis (password, TLS only), both
 * on loopback, and the emulators.
 */
const local = useLocalStack();
const cleanups: (() => Promise<unknown>)[] = [];

let tls: LoopbackTlsFiles;
let nats: PrivateNatsServer;
let redis: PrivateRedisServer;
let monitorPort: number;
const NATS_USER = { user: 'shoal', pass: 'nats-secret' };
const REDIS_PASSWORD = 'redis-secret';

beforeAll(async () => {
  tls = loopbackTlsFiles();
  monitorPort = await closedPort();
  nats = await PrivateNatsServer.start({
    config: [
      `http: "127.0.0.1:${monitorPort}"`,
      'jetstream { store_dir: "' + mkdtempSync(join(tmpdir(), 'shoal-js-')) + '" }',
      `tls { cert_file: "${tls.certFile}", key_file: "${tls.keyFile}" }`,
      `authorization { user: ${NATS_USER.user}, password: ${NATS_USER.pass} }`,
    ].join('\n'),
  });
  redis = await PrivateRedisServer.start({ password: REDIS_PASSWORD, tls });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await nats?.stop();
  await redis?.stop();
});

describe('a worker built from NATS and Redis options', () => {
  it('coordinates over NATS, publishes lease states, reports its load and shares the read budget, through passwords and TLS', async () => {
    const stream = await local.createTestStream(2);
    cleanups.push(() => stream.close());
    const worker = await stream.createWorker({
      workerId: 'wired-worker',
      loadReportIntervalMs: 200,
      nats: { servers: nats.url, ...NATS_USER, tls: { caFile: tls.certFile } },
      redis: { url: `rediss://127.0.0.1:${redis.port}`, password: REDIS_PASSWORD, tls: { caFile: tls.certFile } },
    });
    const running = worker.run();
    cleanups.push(async () => {
      await worker.shutdown();
      await running;
    });
    await eventually(() => ownedLeaseCount(worker) === 2, 'the worker holds both leases');

    // The bus works: the worker led, granted itself, and switched to `nats` liveness.
    const dynamoDb = new DynamoDBClient(local.stack().clientConfig('dynamodb'));
    cleanups.push(async () => dynamoDb.destroy());
    const store = new DynamoDbLeaseStore({ client: dynamoDb, tableName: stream.leaseTableName });
    const namespace = leaseNamespace(stream.applicationName, stream.streamName);
    await eventually(async () => (await store.getWorker(namespace, 'wired-worker'))?.liveness === 'nats', 'the worker lives on grants');

    // Records flow through the read budget, and every one is processed.
    await produceRecords({
      kinesis: local.stack().kinesis,
      streamName: stream.streamName,
      count: 200,
      batchSize: 50,
      keyCount: 10,
      ledger: stream.ledger,
    });
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);

    const admin = new Redis(`rediss://127.0.0.1:${redis.port}`, {
      password: REDIS_PASSWORD,
      tls: { ca: readFileSync(tls.certFile) },
      lazyConnect: true,
    });
    admin.on('error', () => undefined);
    cleanups.push(async () => admin.disconnect());
    await admin.connect();
    expect(await admin.keys(`shoal:read-budget:{${stream.streamName}/*`)).not.toEqual([]);
    const loads = new RedisWorkerLoadStore({ redis: admin, logger: silentLogger });
    await eventually(async () => (await loads.readAll(stream.applicationName)).has('wired-worker'), 'the worker’s load is reported');

    // Lease states are in the application's KV bucket.
    const reader = connectNats({ servers: nats.url, ...NATS_USER, tls: { caFile: tls.certFile }, logger: silentLogger });
    cleanups.push(() => reader.close());
    expect(await reader.ready(5_000)).toBe(true);
    const bucket = await new Kvm(reader.connection()!).open(leaseStateBucket(stream.applicationName));
    await eventually(async () => (await keysOf(bucket)).length === 2, 'both leases’ states are in the bucket');

    // Closing the worker closes what it built: only the test's own connections remain.
    await worker.close();
    await eventually(async () => (await natsConnections()) === 1, 'the worker’s NATS connection is closed');
    await eventually(
      async () =>
        String(await admin.call('CLIENT', 'LIST'))
          .trim()
          .split('\n').length === 1,
      'the worker’s Redis connection is closed',
    );
  });

  it('authenticates with a token or an nkey seed file, and fails to connect with a wrong one', async () => {
    const user = nkeys.createUser();
    const seedFile = join(mkdtempSync(join(tmpdir(), 'shoal-nkey-')), 'user.nk');
    writeFileSync(seedFile, new TextDecoder().decode(user.getSeed()));
    const token = await PrivateNatsServer.start({ config: 'authorization { token: "the-token" }' });
    const nkey = await PrivateNatsServer.start({ config: `authorization { users: [ { nkey: ${user.getPublicKey()} } ] }` });
    cleanups.push(
      () => token.stop(),
      () => nkey.stop(),
    );
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) });

    const links = [
      connectNats({ servers: token.url, token: 'the-token', logger }),
      connectNats({ servers: nkey.url, nkeySeedFile: seedFile, logger }),
    ];
    const wrong = connectNats({ servers: token.url, token: 'not-the-token', reconnectTimeWaitMs: 100, logger });
    cleanups.push(...[...links, wrong].map((link) => () => link.close()));
    for (const link of links) expect(await link.ready(5_000)).toBe(true);
    expect(await wrong.ready(1_000)).toBe(false);
    expect(lines.some((line) => line.level === 40 && line.msg.includes('nats unreachable'))).toBe(true);
  });

  it('fails at start, naming the file, when a TLS or key file cannot be read', async () => {
    const stream = await local.createTestStream(1);
    cleanups.push(() => stream.close());
    await expect(stream.createWorker({ nats: { servers: nats.url, nkeySeedFile: '/nonexistent/user.nk' } })).rejects.toThrow(
      /nkeySeedFile: cannot read \/nonexistent\/user\.nk/,
    );
    await expect(
      stream.createWorker({ redis: { url: `rediss://127.0.0.1:${redis.port}`, tls: { caFile: '/nonexistent/ca.pem' } } }),
    ).rejects.toThrow(/tls\.caFile: cannot read \/nonexistent\/ca\.pem/);
  });
});

async function keysOf(bucket: { keys(): Promise<AsyncIterable<string>> }): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of await bucket.keys()) keys.push(key);
  return keys;
}

/** Client connections the private NATS server has, from its monitoring endpoint. */
async function natsConnections(): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${monitorPort}/connz`);
  return ((await response.json()) as { num_connections: number }).num_connections;
}
