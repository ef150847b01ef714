import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisShardReadBudget } from '@shoal/coordinator';
import { LocalShareLimiter } from '../packages/coordinator/src/read-budget/local-share-limiter.js';
import { eventually } from './support/worker-harness.js';

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

  it('keeps Redis state bounded when 3,000 application names use one shard: at most 64 counted, every key expiring', async () => {
    const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
    await client.connect();
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    const shardId = 'shardId-000000000003';
    const applicationsKey = `${keyPrefix}:{${STREAM}/${shardId}}:applications`;
    const NAMES = 3_000;
    const WAVES = 15;
    /** The longest a name's own keys live after its ask: its calls bucket (refilled by then), its waiting marker 2 s. */
    const NAME_KEYS_LIVE_MS = 3_000;
    const asked: { atMs: number; names: number }[] = [];
    const samples: { keys: number; recentNames: number; applications: number; withoutExpiry: number }[] = [];
    const start = performance.now();
    try {
      for (let wave = 0; wave < WAVES; wave += 1) {
        // Each name asks once: one run of the script, then its wait is cut short.
        const names = Array.from({ length: NAMES / WAVES }, (_, i) => `flood-${wave}-${i}`);
        await Promise.all(
          names.map(async (application) => {
            const budget = new RedisShardReadBudget({ redis: client, keyPrefix, application, commandTimeoutMs: 2_000, logger });
            budgets.push(budget);
            await budget.acquireCall(STREAM, shardId, AbortSignal.timeout(1)).catch(() => undefined);
          }),
        );
        asked.push({ atMs: performance.now() - start, names: names.length });
        const keys = await admin.keys(`${keyPrefix}:*`);
        const ttls = await Promise.all(keys.map((key) => admin.pttl(key)));
        const now = performance.now() - start;
        samples.push({
          keys: keys.length,
          // Names that asked recently enough to still have keys (with half a second to spare for the clocks).
          recentNames: asked.filter((entry) => entry.atMs >= now - NAME_KEYS_LIVE_MS - 500).reduce((sum, entry) => sum + entry.names, 0),
          applications: await admin.zcard(applicationsKey),
          // -1: no expiry (-2: expired since it was listed).
          withoutExpiry: ttls.filter((ttl) => ttl === -1).length,
        });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      // Every ask reached Redis: none failed open.
      expect(warnings).toEqual([]);
      for (const sample of samples) {
        // The applications set holds the 64 that asked last, however many names asked.
        expect(sample.applications).toBe(64);
        expect(sample.withoutExpiry).toBe(0);
        // A name that asked once has one key (its calls bucket when granted, its waiting marker when
        // refused), gone within seconds: the shard's 3 keys and one per recent name at most.
        expect(sample.keys, JSON.stringify(sample)).toBeLessThanOrEqual(3 + sample.recentNames);
      }
      // The keys follow the names of the last few seconds, not every name ever seen.
      expect(samples.at(-1)!.keys).toBeLessThan(NAMES);
      await eventually(async () => (await admin.keys(`${keyPrefix}:*`)).length === 0, 'every key of the shard expired', 10_000);
    } finally {
      client.disconnect();
    }
  }, 30_000);
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
