import { InvalidArgumentError } from '@shoal/processor-sdk';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { isValidWorkerLoad, type WorkerLoad } from '../assignment/worker-load.js';
import type { Logger } from '../logger.js';
import type { WorkerLoadStore } from './worker-load-store.js';
import { positiveOption, resolveRedisClient, waitUntilReady, withTimeout } from '../redis/fail-open-redis.js';

export interface RedisWorkerLoadStoreOptions {
  /**
   * An ioredis client the caller owns (never closed by the store; each call is bounded by
   * {@link RedisWorkerLoadStoreOptions.commandTimeoutMs}), or a `redis://` URL: the store then
   * creates a client without an offline queue and closes it in `close()`.
   */
  readonly redis: Redis | string;
  /** How often workers report their load; the expiry defaults to three of these. Default 5 000. */
  readonly reportIntervalMs?: number;
  /**
   * How long a report stays fresh without a newer one, on the Redis server's clock. Default
   * `3 × reportIntervalMs`, so one or two lost reports do not drop a worker; must exceed it.
   */
  readonly expiryMs?: number;
  /** Prefix of the Redis keys; one hash per application at `<prefix>:<application>`. Default `shoal:worker-load`. */
  readonly keyPrefix?: string;
  /** Longest wait for one Redis call before `report` gives up and `readAll` returns empty. Default 250. */
  readonly commandTimeoutMs?: number;
  readonly logger: Logger;
}

const DEFAULT_REPORT_INTERVAL_MS = 5_000;
const DEFAULT_KEY_PREFIX = 'shoal:worker-load';
const DEFAULT_COMMAND_TIMEOUT_MS = 250;
/** How long `create()` waits for a client it made from a URL to become ready. */
const INITIAL_CONNECT_WAIT_MS = 1_000;

/**
 * One hash per application: field = worker id, value = `<expiresAt>|<load JSON>`, where
 * `expiresAt` is in the Redis server's milliseconds so workers' clocks never decide freshness.
 * The key's own expiry is pushed out to the longest expiry reported, so an application whose
 * workers all stopped leaves nothing behind.
 *
 * KEYS[1] the hash. ARGV[1] worker id, ARGV[2] load JSON, ARGV[3] expiry in ms.
 */
const REPORT_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now + expiry) .. '|' .. ARGV[2])
if redis.call('PTTL', KEYS[1]) < expiry then redis.call('PEXPIRE', KEYS[1], expiry) end
return 1
`;

/**
 * Returns `[workerId, loadJson, ...]` for the fields that have not expired, and deletes the
 * others (workers that stopped reporting), all in one round trip.
 *
 * KEYS[1] the hash.
 */
const READ_ALL_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local fresh = {}
local stale = {}
for i = 1, #all, 2 do
  local value = all[i + 1]
  local sep = string.find(value, '|', 1, true)
  local expiresAt = sep and tonumber(string.sub(value, 1, sep - 1))
  if expiresAt and expiresAt > now then
    fresh[#fresh + 1] = all[i]
    fresh[#fresh + 1] = string.sub(value, sep + 1)
  else
    stale[#stale + 1] = all[i]
  end
end
for i = 1, #stale, 100 do
  redis.call('HDEL', KEYS[1], unpack(stale, i, math.min(i + 99, #stale)))
end
return fresh
`;

const REPORT_SHA = sha1(REPORT_LUA);
const READ_ALL_SHA = sha1(READ_ALL_LUA);

/**
 * {@link WorkerLoadStore} on Redis. Each worker reports every `reportIntervalMs`; a report is
 * fresh for `expiryMs` on the Redis server's clock; `readAll` is one round trip (a Lua script
 * that also prunes expired workers). Redis down or slow never stalls a caller: every call is
 * bounded by `commandTimeoutMs`, `report` then resolves and `readAll` returns an empty map (so
 * the planner balances by count), and a warning is logged once per outage.
 *
 * @example
 * ```ts
 * const store = await RedisWorkerLoadStore.create({ redis: 'redis://127.0.0.1:6379', logger });
 * const sampler = new EventLoopLoadSampler();
 * sampler.start();
 * const timer = setInterval(() => void store.report('billing', workerId, sampler.sample()), 5_000);
 * // on the planning worker:
 * const plan = planAssignments({ leases, workers, workerLoads: await store.readAll('billing') });
 * ```
 */
export class RedisWorkerLoadStore implements WorkerLoadStore {
  private readonly redis: Redis;
  private readonly ownsClient: boolean;
  private readonly expiryMs: number;
  private readonly keyPrefix: string;
  private readonly commandTimeoutMs: number;
  private readonly logger: Logger;
  private closed: Promise<void> | undefined;
  private failing = false;

  /** Creates the store; with a URL, also waits (up to 1 s) for the new client to be ready. */
  static async create(options: RedisWorkerLoadStoreOptions): Promise<RedisWorkerLoadStore> {
    const store = new RedisWorkerLoadStore(options);
    if (store.ownsClient) await waitUntilReady(store.redis, INITIAL_CONNECT_WAIT_MS);
    return store;
  }

  /** Prefer {@link RedisWorkerLoadStore.create}: a client made here from a URL is not ready yet. */
  constructor(options: RedisWorkerLoadStoreOptions) {
    const reportIntervalMs = positiveOption(
      'RedisWorkerLoadStore',
      'reportIntervalMs',
      options.reportIntervalMs ?? DEFAULT_REPORT_INTERVAL_MS,
    );
    this.expiryMs = positiveOption('RedisWorkerLoadStore', 'expiryMs', options.expiryMs ?? 3 * reportIntervalMs);
    if (this.expiryMs <= reportIntervalMs) {
      throw new InvalidArgumentError(
        `RedisWorkerLoadStore: expiryMs (${this.expiryMs}) must exceed reportIntervalMs (${reportIntervalMs}), or every load expires between reports`,
      );
    }
    this.commandTimeoutMs = positiveOption(
      'RedisWorkerLoadStore',
      'commandTimeoutMs',
      options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    );
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.logger = options.logger;
    ({ redis: this.redis, ownsClient: this.ownsClient } = resolveRedisClient(
      options.redis,
      this.commandTimeoutMs,
      this.logger,
      'worker load',
    ));
  }

  /** Rejects only for a malformed argument (`InvalidArgumentError`); Redis trouble resolves. */
  async report(application: string, workerId: string, load: WorkerLoad): Promise<void> {
    nonEmpty('application', application);
    nonEmpty('workerId', workerId);
    if (!isValidWorkerLoad(load)) {
      throw new InvalidArgumentError(`RedisWorkerLoadStore: invalid load for worker ${workerId}: ${JSON.stringify(load)}`);
    }
    if (this.closed || this.unreachable()) return;
    const json = JSON.stringify({
      eventLoopLagMs: load.eventLoopLagMs,
      recordsPerSecond: load.recordsPerSecond,
      reportedAt: load.reportedAt,
      ...(load.maxLagMs === undefined ? {} : { maxLagMs: load.maxLagMs }),
    });
    try {
      await this.run(REPORT_SHA, REPORT_LUA, this.key(application), workerId, json, String(this.expiryMs));
      this.recovered();
    } catch (err) {
      this.failed(err, application);
    }
  }

  async readAll(application: string): Promise<Map<string, WorkerLoad>> {
    nonEmpty('application', application);
    const loads = new Map<string, WorkerLoad>();
    if (this.closed || this.unreachable()) return loads;
    let reply: unknown;
    try {
      reply = await this.run(READ_ALL_SHA, READ_ALL_LUA, this.key(application));
      this.recovered();
    } catch (err) {
      this.failed(err, application);
      return loads;
    }
    const flat = Array.isArray(reply) ? (reply as unknown[]) : [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const workerId = String(flat[i]);
      const load = parseLoad(flat[i + 1]);
      if (load === undefined) this.logger.debug({ workerId, application }, 'ignoring a malformed worker load in redis');
      else loads.set(workerId, load);
    }
    return loads;
  }

  /** Closes the client if the store created it; later calls do nothing. Idempotent. */
  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private key(application: string): string {
    return `${this.keyPrefix}:${application}`;
  }

  private async run(sha: string, script: string, key: string, ...args: string[]): Promise<unknown> {
    try {
      return await withTimeout(this.redis.evalsha(sha, 1, key, ...args), this.commandTimeoutMs);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return withTimeout(this.redis.eval(script, 1, key, ...args), this.commandTimeoutMs);
    }
  }

  /** A client known to be down answers nothing useful: skip it instead of waiting for the timeout. */
  private unreachable(): boolean {
    const status = this.redis.status;
    if (status !== 'end' && status !== 'close' && status !== 'reconnecting') return false;
    this.failed(new Error(`redis connection is ${status}`));
    return true;
  }

  private failed(err: unknown, application?: string): void {
    if (this.failing) {
      this.logger.debug({ err, application }, 'worker load redis call failed');
      return;
    }
    this.failing = true;
    this.logger.warn({ err, application }, 'worker loads unavailable: planning balances by lease count until redis answers again');
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.logger.info('worker load redis reachable again');
  }

  private async doClose(): Promise<void> {
    if (!this.ownsClient) return;
    if (this.redis.status === 'ready') {
      try {
        await withTimeout(this.redis.quit(), this.commandTimeoutMs * 4);
        return;
      } catch {
        // fall through to a hard disconnect
      }
    }
    this.redis.disconnect();
  }
}

function parseLoad(value: unknown): WorkerLoad | undefined {
  if (typeof value !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { eventLoopLagMs, recordsPerSecond, reportedAt, maxLagMs } = parsed as Record<string, unknown>;
  if (typeof eventLoopLagMs !== 'number' || typeof recordsPerSecond !== 'number' || typeof reportedAt !== 'number') return undefined;
  const lag = typeof maxLagMs === 'number' && Number.isFinite(maxLagMs) && maxLagMs >= 0 ? { maxLagMs } : {};
  const load = { eventLoopLagMs, recordsPerSecond, reportedAt, ...lag };
  return isValidWorkerLoad(load) ? load : undefined;
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

function nonEmpty(field: string, value: string): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(`RedisWorkerLoadStore: ${field} must be a non-empty string`);
  }
}
