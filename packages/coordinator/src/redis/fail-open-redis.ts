import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '@shoal/processor-sdk';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * Where a Redis server is and how to reach it: a `redis://` URL (`rediss://` for TLS; a password
 * may be in it as `redis://:password@host:port`), with the password and TLS files given apart
 * where that is easier.
 */
export interface RedisConnectionOptions {
  readonly url: string;
  readonly password?: string;
  /** For `rediss://`: the CA that signed the server's certificate, and this client's own (PEM files). */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
}

/**
 * A Redis client for features that must fail open: commands fail at once while disconnected
 * (instead of piling up until Redis is back), time out after `commandTimeoutMs`, and the client
 * reconnects in the background. Connection errors are logged at debug level only; callers
 * report outages once, in their own words. TLS files are read now, so a missing one fails at
 * start with its path named.
 */
export function createFailOpenRedis(
  connection: string | RedisConnectionOptions,
  commandTimeoutMs: number,
  logger: Logger,
  what: string,
): Redis {
  const { url, password, tls } = typeof connection === 'string' ? { url: connection } : connection;
  if (!/^rediss?:\/\//u.test(url))
    throw new InvalidArgumentError(`${what}: the Redis URL must start with redis:// or rediss://, got ${url}`);
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...(password === undefined ? {} : { password }),
    ...(tls === undefined ? {} : { tls: tlsFiles(tls, what) }),
  });
  // Keeps ioredis from printing "Unhandled error event" for each reconnect attempt.
  redis.on('error', (err: unknown) => logger.debug({ err }, `${what} redis client error`));
  return redis;
}

function tlsFiles(tls: NonNullable<RedisConnectionOptions['tls']>, what: string): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const read = (path: string | undefined, field: string): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (error) {
      throw new InvalidArgumentError(
        `${what}: tls.${field}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      );
    }
  };
  const [ca, cert, key] = [read(tls.caFile, 'caFile'), read(tls.certFile, 'certFile'), read(tls.keyFile, 'keyFile')];
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
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
