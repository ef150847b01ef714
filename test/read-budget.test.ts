import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisShardReadBudget } from '@shoal/coordinator';
import { PrivateRedisServer } from './support/private-redis.js';

// Real Redis on loopback; these tests fail (never skip) when it does not answer.
const REDIS_URL = 'redis://127.0.0.1:6379';
const MiB = 1024 * 1024;
const STREAM = 'orders';

interface LogLine {
  level: number;
  msg: string;
}

function capturingLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

const WARN = 40;

describe('RedisShardReadBudget (real Redis)', () => {
  let admin: Redis;
  let keyPrefix: string;
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
    keyPrefix = `shoal-test:read-budget:${randomUUID()}`;
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    const keys = await admin.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
  });

  async function budget(options: Partial<Parameters<typeof RedisShardReadBudget.create>[0]> = {}) {
    const created = await RedisShardReadBudget.create({
      redis: REDIS_URL,
      keyPrefix,
      logger: capturingLogger().logger,
      ...options,
    });
    cleanups.push(() => created.close());
    return created;
  }

  it('shares 5 calls/s of one shard between two applications', async () => {
    const appA = await budget({ callsPerSecond: 5 });
    const appB = await budget({ callsPerSecond: 5 });
    const start = performance.now();
    const grants: { app: string; atMs: number }[] = [];
    const loop = async (app: string, budgetOfApp: RedisShardReadBudget) => {
      for (let i = 0; i < 6; i++) {
        await budgetOfApp.acquireCall(STREAM, 'shardId-000000000000');
        grants.push({ app, atMs: performance.now() - start });
      }
    };
    await Promise.all([loop('a', appA), loop('b', appB)]);

    expect(grants).toHaveLength(12);
    expect(grants.filter((g) => g.app === 'a')).toHaveLength(6);
    // A full bucket lets 5 through at once; the other 7 need 7 / 5 = 1.4 s of refill.
    const lastMs = Math.max(...grants.map((g) => g.atMs));
    expect(lastMs).toBeGreaterThanOrEqual(1_200);
    expect(lastMs).toBeLessThan(8_000);
    // In any one-second window: at most the burst (5) plus one second of refill (5), plus one
    // for observation jitter at the window's edges.
    for (const grant of grants) {
      const inWindow = grants.filter((g) => g.atMs >= grant.atMs && g.atMs < grant.atMs + 1_000).length;
      expect(inWindow).toBeLessThanOrEqual(11);
    }
  });

  it('makes later calls wait until bytes over the allowance are paid back', async () => {
    const reader = await budget({ bytesPerSecond: 2 * MiB });
    await reader.acquireCall(STREAM, 'shardId-000000000001');
    reader.recordBytes(STREAM, 'shardId-000000000001', 3 * MiB);
    const start = performance.now();
    await reader.acquireCall(STREAM, 'shardId-000000000001');
    const waitedMs = performance.now() - start;
    // 3 MiB from a full 2 MiB bucket leaves it 1 MiB short: half a second at 2 MiB/s.
    expect(waitedMs).toBeGreaterThanOrEqual(400);
    expect(waitedMs).toBeLessThan(5_000);
  });

  it('keeps shards independent', async () => {
    const reader = await budget();
    await reader.acquireCall(STREAM, 'shardId-000000000002');
    reader.recordBytes(STREAM, 'shardId-000000000002', 10 * MiB); // ~4 s of debt on shard 2
    const start = performance.now();
    for (let i = 0; i < 5; i++) await reader.acquireCall(STREAM, 'shardId-000000000003');
    expect(performance.now() - start).toBeLessThan(1_000);
    // Another stream with the same shard id is a different shard too.
    const other = performance.now();
    await reader.acquireCall('payments', 'shardId-000000000002');
    expect(performance.now() - other).toBeLessThan(1_000);
  });

  it('rejects a wait when its signal aborts', async () => {
    const reader = await budget();
    await reader.acquireCall(STREAM, 'shardId-000000000004');
    reader.recordBytes(STREAM, 'shardId-000000000004', 10 * MiB);
    const controller = new AbortController();
    const reason = new Error('shard consumer stopping');
    setTimeout(() => controller.abort(reason), 100);
    const start = performance.now();
    await expect(reader.acquireCall(STREAM, 'shardId-000000000004', controller.signal)).rejects.toBe(reason);
    expect(performance.now() - start).toBeLessThan(2_000);
    // An already aborted signal rejects at once.
    await expect(reader.acquireCall(STREAM, 'shardId-000000000005', controller.signal)).rejects.toBe(reason);
  });

  it('resolves pending waits when closed, and close is idempotent', async () => {
    const reader = await budget();
    await reader.acquireCall(STREAM, 'shardId-000000000006');
    reader.recordBytes(STREAM, 'shardId-000000000006', 10 * MiB);
    const waiting = reader.acquireCall(STREAM, 'shardId-000000000006');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const start = performance.now();
    await Promise.all([reader.close(), reader.close()]);
    await waiting;
    expect(performance.now() - start).toBeLessThan(2_000);
    await reader.acquireCall(STREAM, 'shardId-000000000006');
  });

  it('works with a client the caller owns, and leaves it open', async () => {
    const client = new Redis(REDIS_URL);
    cleanups.push(() => void client.disconnect());
    const reader = await budget({ redis: client, callsPerSecond: 2 });
    const start = performance.now();
    for (let i = 0; i < 3; i++) await reader.acquireCall(STREAM, 'shardId-000000000007');
    // A bucket of 2: the third call waits half a second.
    expect(performance.now() - start).toBeGreaterThanOrEqual(400);
    await reader.close();
    expect(await client.ping()).toBe('PONG');
    // Idle shards leave keys that expire by themselves.
    const keys = await admin.keys(`${keyPrefix}:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const ttl = await admin.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(10_000);
    }
  });

  it('lets reads through at once when Redis is unreachable, warning once', async () => {
    const { logger, lines } = capturingLogger();
    // A caller's lazy client pointed at a closed port: its commands would sit in the offline queue.
    const down = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, retryStrategy: () => 200 });
    down.on('error', () => undefined);
    cleanups.push(() => void down.disconnect());
    const passedIn = await budget({ redis: down, logger });
    const start = performance.now();
    for (let i = 0; i < 3; i++) await passedIn.acquireCall(STREAM, 'shardId-000000000008');
    passedIn.recordBytes(STREAM, 'shardId-000000000008', 5 * MiB);
    await passedIn.acquireCall(STREAM, 'shardId-000000000008');
    expect(performance.now() - start).toBeLessThan(1_000);
    expect(lines.filter((line) => line.level === WARN)).toHaveLength(1);

    // A budget that made its own client from a URL.
    const owned = await budget({ redis: 'redis://127.0.0.1:1', logger: capturingLogger().logger });
    const ownedStart = performance.now();
    for (let i = 0; i < 3; i++) await owned.acquireCall(STREAM, 'shardId-000000000008');
    expect(performance.now() - ownedStart).toBeLessThan(1_000);
    const closeStart = performance.now();
    await owned.close();
    expect(performance.now() - closeStart).toBeLessThan(1_000);
  });

  describe('fair between applications', () => {
    /** Grants per application while each asks as `pace` says, for `ms` from a common start. */
    async function contend(
      budgets: Record<string, RedisShardReadBudget>,
      shardId: string,
      ms: number,
      pauseMs: Record<string, number> = {},
    ) {
      const start = performance.now();
      const grants: { app: string; atMs: number }[] = [];
      await Promise.all(
        Object.entries(budgets).map(async ([app, appBudget]) => {
          for (let i = 0; i < 200 && performance.now() - start < ms; i++) {
            await appBudget.acquireCall(STREAM, shardId);
            grants.push({ app, atMs: performance.now() - start });
            if (pauseMs[app]) await new Promise((resolve) => setTimeout(resolve, pauseMs[app]));
          }
        }),
      );
      return grants;
    }

    const countIn = (grants: { app: string; atMs: number }[], app: string, fromMs: number, toMs: number) =>
      grants.filter((grant) => grant.app === app && grant.atMs >= fromMs && grant.atMs < toMs).length;

    it('shares the shard evenly between three applications that all want more, however hard one of them asks', async () => {
      const c = await budget({ application: 'fair-c' });
      // `c` asks from three loops at once, as three pollers of one application would.
      const budgets = { a: await budget({ application: 'fair-a' }), b: await budget({ application: 'fair-b' }), c1: c, c2: c, c3: c };
      const grants = await contend(budgets, 'shardId-000000000020', 5_500);
      // Past the first second's burst: 5 calls/s in all, a third each.
      const counts = [['a'], ['b'], ['c1', 'c2', 'c3']].map((loops) =>
        loops.reduce((sum, app) => sum + countIn(grants, app, 1_500, 5_500), 0),
      );
      const total = counts.reduce((sum, count) => sum + count, 0);
      expect(total).toBeLessThanOrEqual(5 * 4 + 2);
      // Even: without fairness the application asking hardest took ten times the least one's calls.
      // (The share of each, measured precisely, is the read-budget benchmark's business.)
      expect(Math.max(...counts) - Math.min(...counts), JSON.stringify(counts)).toBeLessThanOrEqual(Math.max(3, total * 0.25));
    });

    it('gives the share an application leaves unused to the others', async () => {
      const budgets = { greedy: await budget({ application: 'fair-greedy' }), light: await budget({ application: 'fair-light' }) };
      // The light one asks once a second: its share is 2.5/s, so 1.5/s of it is free.
      const grants = await contend(budgets, 'shardId-000000000021', 5_500, { light: 1_000 });
      const greedy = countIn(grants, 'greedy', 1_500, 5_500);
      const light = countIn(grants, 'light', 1_500, 5_500);
      expect(light).toBeGreaterThanOrEqual(3);
      // More than its own share (2.5 a second, 10 in these 4 s): it had some of the light one's.
      expect(greedy).toBeGreaterThan(10);
      expect(greedy + light).toBeLessThanOrEqual(5 * 4 + 2);
    });

    it('keeps each application to its fair share locally while Redis is down', async () => {
      const server = await PrivateRedisServer.start({ password: 'fair-share' });
      cleanups.push(() => server.stop());
      const url = `redis://:fair-share@127.0.0.1:${server.port}`;
      const budgets = { a: await budget({ redis: url, application: 'down-a' }), b: await budget({ redis: url, application: 'down-b' }) };
      // Both ask once: the budget learns the shard is shared by two.
      await contend(budgets, 'shardId-000000000022', 100);
      await server.stop();
      const grants = await contend(budgets, 'shardId-000000000022', 2_000);
      // Unmetered, each would take its 200 calls at once; at 2.5/s each, a burst of 2.5 and 5 more in 2 s.
      for (const app of ['a', 'b']) {
        const count = countIn(grants, app, 0, 2_000);
        expect(count).toBeGreaterThanOrEqual(3);
        expect(count).toBeLessThanOrEqual(9);
      }
    });
  });
});
