import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { planAssignments, RedisWorkerLoadStore, type PlanInput, type WorkerLoad } from '@shoal/coordinator';
import { closedPort } from './support/ports.js';

// Real Redis on loopback; these tests fail (never skip) when it does not answer.
const REDIS_URL = 'redis://127.0.0.1:6379';
const WARN = 40;

interface LogLine {
  level: number;
  msg: string;
}

function capturingLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A loopback server that accepts connections and never answers: a hung Redis. */
async function hungServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const load = (recordsPerSecond: number, eventLoopLagMs: number, reportedAt = Date.now()): WorkerLoad => ({
  recordsPerSecond,
  eventLoopLagMs,
  reportedAt,
});

describe('RedisWorkerLoadStore (real Redis)', () => {
  let admin: Redis;
  let keyPrefix: string;
  let application: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 2_000, lazyConnect: true });
    admin.on('error', () => undefined);
    await admin.connect();
    expect(await admin.ping()).toBe('PONG');
  });

  afterAll(async () => {
    await admin?.quit();
  });

  beforeEach(() => {
    keyPrefix = `shoal-test:worker-load:${randomUUID()}`;
    application = `app-${randomUUID().slice(0, 8)}`;
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    const keys = await admin.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
  });

  async function store(options: Partial<Parameters<typeof RedisWorkerLoadStore.create>[0]> = {}): Promise<RedisWorkerLoadStore> {
    const created = await RedisWorkerLoadStore.create({ redis: REDIS_URL, keyPrefix, logger: capturingLogger().logger, ...options });
    cleanups.push(() => created.close());
    return created;
  }

  it('reads back what every worker reported, per application, the latest report winning', async () => {
    const workerA = await store();
    const workerB = await store();
    const a = load(1_200, 14);
    const b = load(300, 2);
    await workerA.report(application, 'worker-a', load(1, 1));
    await workerA.report(application, 'worker-a', a);
    await workerB.report(application, 'worker-b', b);
    await workerB.report(`${application}-other`, 'worker-c', b);

    expect(await workerA.readAll(application)).toEqual(
      new Map([
        ['worker-a', a],
        ['worker-b', b],
      ]),
    );
    expect(await workerB.readAll(`${application}-other`)).toEqual(new Map([['worker-c', b]]));
    expect(await workerA.readAll(`${application}-nobody`)).toEqual(new Map());

    // One hash per application, which expires by itself once nobody reports.
    const ttl = await admin.pttl(`${keyPrefix}:${application}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(15_000);
  });

  it('drops a load once its expiry passes without a newer report, and prunes it', async () => {
    const fleet = await store({ reportIntervalMs: 100, expiryMs: 500 });
    await fleet.report(application, 'stopped', load(10, 1));
    for (let i = 0; i < 8; i++) {
      await fleet.report(application, 'alive', load(20, 1));
      await sleep(100);
    }
    expect([...(await fleet.readAll(application)).keys()]).toEqual(['alive']);
    expect(await admin.hexists(`${keyPrefix}:${application}`, 'stopped')).toBe(0);

    // Once nobody reports, the key itself goes.
    await sleep(800);
    expect(await fleet.readAll(application)).toEqual(new Map());
    expect(await admin.exists(`${keyPrefix}:${application}`)).toBe(0);
  });

  it('skips malformed entries it did not write', async () => {
    const reader = await store();
    await reader.report(application, 'worker-a', load(5, 1));
    const farFuture = String(Date.now() + 60_000);
    await admin.hset(
      `${keyPrefix}:${application}`,
      'junk',
      'no separator',
      'bad-json',
      `${farFuture}|{nope`,
      'bad-load',
      `${farFuture}|{"eventLoopLagMs":-1}`,
    );
    expect([...(await reader.readAll(application)).keys()]).toEqual(['worker-a']);
  });

  it('rejects malformed arguments and options', async () => {
    const writer = await store();
    await expect(writer.report(application, 'worker-a', load(Number.NaN, 1))).rejects.toThrow(/invalid load/);
    await expect(writer.report('', 'worker-a', load(1, 1))).rejects.toThrow(/application/);
    expect(
      () => new RedisWorkerLoadStore({ redis: REDIS_URL, logger: capturingLogger().logger, reportIntervalMs: 5_000, expiryMs: 5_000 }),
    ).toThrow(/expiryMs/);
  });

  it('fails open when Redis is unreachable: reports resolve, reads are empty, planning balances by count', async () => {
    const port = await closedPort();
    const { logger, lines } = capturingLogger();
    const down = await store({ redis: `redis://127.0.0.1:${port}`, logger });

    const started = performance.now();
    for (let i = 0; i < 3; i++) await expect(down.report(application, `worker-${i}`, load(100, 5))).resolves.toBeUndefined();
    const loads = await down.readAll(application);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(loads.size).toBe(0);
    // One warning for the whole outage.
    expect(lines.filter((line) => line.level === WARN)).toHaveLength(1);

    const input: PlanInput = {
      leases: Array.from({ length: 10 }, (_, i) => ({ leaseKey: `shardId-${i}`, owner: i < 7 ? 'worker-0' : undefined })),
      workers: ['worker-0', 'worker-1', 'worker-2'],
    };
    expect(planAssignments({ ...input, workerLoads: loads })).toEqual(planAssignments(input));

    // A caller's client at the same port (it would queue commands offline) is bounded too.
    const queued = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => 200 });
    queued.on('error', () => undefined);
    cleanups.push(() => void queued.disconnect());
    const passedIn = await store({ redis: queued, commandTimeoutMs: 200 });
    const queuedStart = performance.now();
    await passedIn.report(application, 'worker-0', load(1, 1));
    expect(await passedIn.readAll(application)).toEqual(new Map());
    expect(performance.now() - queuedStart).toBeLessThan(2_000);
  });

  it('does not stall callers when Redis hangs', async () => {
    const hung = await hungServer();
    cleanups.push(() => hung.close());
    const client = new Redis({ host: '127.0.0.1', port: hung.port, maxRetriesPerRequest: null });
    client.on('error', () => undefined);
    cleanups.push(() => void client.disconnect());
    const { logger, lines } = capturingLogger();
    const stuck = await store({ redis: client, commandTimeoutMs: 200, logger });

    const started = performance.now();
    await stuck.report(application, 'worker-0', load(1, 1));
    expect(await stuck.readAll(application)).toEqual(new Map());
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(lines.filter((line) => line.level === WARN)).toHaveLength(1);

    // A store that made its own client from the URL never waits on the hung server either.
    const owned = await store({ redis: `redis://127.0.0.1:${hung.port}`, commandTimeoutMs: 200 });
    const ownedStart = performance.now();
    await owned.report(application, 'worker-1', load(1, 1));
    expect(await owned.readAll(application)).toEqual(new Map());
    await owned.close();
    expect(performance.now() - ownedStart).toBeLessThan(2_000);
  });

  it('close is idempotent and leaves a caller’s client open', async () => {
    const client = new Redis(REDIS_URL);
    cleanups.push(() => void client.disconnect());
    const borrowed = await store({ redis: client });
    await borrowed.report(application, 'worker-a', load(1, 1));
    await Promise.all([borrowed.close(), borrowed.close()]);
    expect(await client.ping()).toBe('PONG');
    // After close the store does nothing.
    await borrowed.report(application, 'worker-b', load(1, 1));
    expect(await borrowed.readAll(application)).toEqual(new Map());
    expect(await admin.hexists(`${keyPrefix}:${application}`, 'worker-b')).toBe(0);
  });
});
