import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisShardReadBudget } from '@shoal/coordinator';
import { LocalShareLimiter } from '../packages/coordinator/src/read-budget/local-share-limiter.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const STREAM = 'orders';
const silent = pino({ level: 'silent' });

describe('read budget with more applications than calls/s', () => {
  let admin: Redis;
  const keyPrefix = `shoal-test:read-budget-crowded:${randomUUID()}`;
  const budgets: RedisShardReadBudget[] = [];

  beforeAll(async () => {
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
    await admin.connect();
  });
  afterEach(async () => {
    for (const b of budgets.splice(0)) await b.close();
    const keys = await admin.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
  });
  afterAll(async () => {
    await admin.quit();
  });

  async function loops(apps: string[], shardId: string, ms: number) {
    const grants: { app: string; atMs: number }[] = [];
    const start = performance.now();
    await Promise.all(
      apps.map(async (application) => {
        const b = await RedisShardReadBudget.create({ redis: REDIS_URL, keyPrefix, application, logger: silent });
        budgets.push(b);
        for (let i = 0; i < 100 && performance.now() - start < ms; i++) {
          try {
            await b.acquireCall(STREAM, shardId, AbortSignal.timeout(Math.ceil(Math.max(1, ms - (performance.now() - start)))));
          } catch (err) {
            if (process.env.DEBUG_RB) console.log(application, err);
            break;
          }
          grants.push({ app: application, atMs: performance.now() - start });
        }
      }),
    );
    return grants;
  }

  it('keeps granting calls when six applications share a 5 calls/s shard', async () => {
    const apps = ['a', 'b', 'c', 'd', 'e', 'f'];
    const grants = await loops(apps, 'shardId-000000000001', 4_500);
    const late = grants.filter((g) => g.atMs >= 1_500);
    // 5 calls/s for 3 s: ~15 calls should be granted after the first burst; the script grants none.
    expect(late.length, JSON.stringify(grants.map((g) => [g.app, Math.round(g.atMs)]))).toBeGreaterThanOrEqual(8);
  }, 15_000);

  it('a misbehaving application using forged names cannot starve a legitimate one', async () => {
    const forged = Array.from({ length: 6 }, (_, i) => `forged-${i}`);
    const grants = await loops(['victim', ...forged], 'shardId-000000000002', 4_500);
    const victim = grants.filter((g) => g.app === 'victim' && g.atMs >= 1_500);
    // Even at 1/7 of 5 calls/s the victim should get ~2 calls in 3 s; it gets none.
    expect(victim.length, JSON.stringify(grants.map((g) => [g.app, Math.round(g.atMs)]))).toBeGreaterThanOrEqual(1);
  }, 15_000);
});

describe('LocalShareLimiter with a share under one call per second', () => {
  it('eventually grants a call at 5/6 calls per second', () => {
    const limiter = new LocalShareLimiter();
    let now = 0;
    let granted = 0;
    for (let i = 0; i < 50 && granted === 0; i++) {
      const wait = limiter.take('orders/shardId-0', 5 / 6, now);
      if (wait === 0) granted += 1;
      now += Math.max(wait, 1);
    }
    expect(granted).toBe(1);
  });
});
