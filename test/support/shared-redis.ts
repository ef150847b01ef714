import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';

/** The shared Redis server (scripts/ensure-services.sh starts it): fails the file when it is not there. */
export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';

/** A client of the shared Redis for a test file, connected before its tests and closed after. */
export function useSharedRedis(): () => Redis {
  let redis: Redis | undefined;
  beforeAll(async () => {
    redis = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: 1 });
    await redis.ping();
  });
  afterAll(() => redis?.disconnect());
  return () => {
    if (!redis) throw new Error('the shared Redis client is used outside a test');
    return redis;
  };
}
