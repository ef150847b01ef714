import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisShardReadBudget } from '@shoal/coordinator';

const REDIS_URL = 'redis://127.0.0.1:6379';

describe("an application named like another one's `:waiting` marker", () => {
  let admin: Redis;
  const keyPrefix = `shoal-test:read-budget-names:${randomUUID()}`;
  beforeAll(async () => {
    admin = new Redis(REDIS_URL, { lazyConnect: true });
    await admin.connect();
  });
  afterAll(async () => {
    const keys = await admin.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  it('keeps the shard to 5 calls/s when one application is named "<other>:waiting"', async () => {
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    const budgets = {
      victim: await RedisShardReadBudget.create({ redis: REDIS_URL, keyPrefix, application: 'orders-app', logger }),
      forged: await RedisShardReadBudget.create({ redis: REDIS_URL, keyPrefix, application: 'orders-app:waiting', logger }),
    };
    const grants: { app: string; atMs: number }[] = [];
    const start = performance.now();
    const ms = 4_000;
    await Promise.all(
      Object.entries(budgets).map(async ([app, budget]) => {
        for (let i = 0; i < 200 && performance.now() - start < ms; i++) {
          try {
            await budget.acquireCall(
              'orders',
              'shardId-000000000000',
              AbortSignal.timeout(Math.ceil(Math.max(1, ms - (performance.now() - start)))),
            );
          } catch {
            break;
          }
          grants.push({ app, atMs: performance.now() - start });
        }
      }),
    );
    for (const budget of Object.values(budgets)) await budget.close();
    const late = grants.filter((g) => g.atMs >= 1_000);
    const byApp = { victim: late.filter((g) => g.app === 'victim').length, forged: late.filter((g) => g.app === 'forged').length };
    // 3 s after the first second: at most 5 * 3 (+2 for the edges) calls in all.
    expect(late.length, JSON.stringify({ byApp, warned: warnings.map((w) => JSON.parse(w).msg) })).toBeLessThanOrEqual(17);
  }, 20_000);
});
