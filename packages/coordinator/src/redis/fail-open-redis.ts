import { InvalidArgumentError } from '@shoal/processor-sdk';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * A Redis client for features that must fail open: commands fail at once while disconnected
 * (instead of piling up until Redis is back), time out after `commandTimeoutMs`, and the client
 * reconnects in the background. Connection errors are logged at debug level only; callers
 * report outages once, in their own words.
 */
export function createFailOpenRedis(url: string, commandTimeoutMs: number, logger: Logger, what: string): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Keeps ioredis from printing "Unhandled error event" for each reconnect attempt.
  redis.on('error', (err: unknown) => logger.debug({ err }, `${what} redis client error`));
  return redis;
}

/**
 * The caller's client, or a fail-open one built from `redis` when it is a URL; `ownsClient`
 * says whether closing it is the caller's job.
 */
export function resolveRedisClient(
  redis: Redis | string,
  commandTimeoutMs: number,
  logger: Logger,
  what: string,
): { redis: Redis; ownsClient: boolean } {
  return typeof redis === 'string'
    ? { redis: createFailOpenRedis(redis, commandTimeoutMs, logger, what), ownsClient: true }
    : { redis, ownsClient: false };
}

/** Waits until the client is ready, fails to connect ('error', 'end'), or `timeoutMs` passed. */
export async function waitUntilReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve) => {
    const events = ['ready', 'error', 'end'] as const;
    const done = (): void => {
      clearTimeout(timer);
      for (const event of events) redis.off(event, done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    for (const event of events) redis.once(event, done);
  });
}

/** Rejects with a plain error when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis did not answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** `value`, or an `InvalidArgumentError` naming `owner.field` when it is not a positive number. */
export function positiveOption(owner: string, field: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`${owner}: ${field} must be a positive number, got ${value}`);
  }
  return value;
}
