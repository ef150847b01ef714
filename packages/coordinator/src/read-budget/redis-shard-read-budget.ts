import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { ShardReadBudget } from './shard-read-budget.js';
import { positiveOption, resolveRedisClient, waitUntilReady, withTimeout } from '../redis/fail-open-redis.js';

/** Time source of a {@link RedisShardReadBudget}; the buckets themselves run on Redis `TIME`. */
export interface ReadBudgetClock {
  /** Milliseconds, used only to space out warnings. */
  now(): number;
  /** Resolves after `ms`; rejects with `signal.reason` when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface RedisShardReadBudgetOptions {
  /**
   * An ioredis client the caller owns (never closed by the budget; each call is bounded by
   * {@link RedisShardReadBudgetOptions.commandTimeoutMs}), or a `redis://` URL: the budget then
   * creates a client without an offline queue and closes it in `close()`.
   */
  readonly redis: Redis | string;
  /** GetRecords calls per second per shard, shared by every budget on the same keys. Default 5. */
  readonly callsPerSecond?: number;
  /** Bytes per second per shard, shared by every budget on the same keys. Default 2 MiB. */
  readonly bytesPerSecond?: number;
  /** Prefix of the Redis keys. Default `shoal:read-budget`. */
  readonly keyPrefix?: string;
  /** Longest wait for one Redis call before the budget lets the read through. Default 250. */
  readonly commandTimeoutMs?: number;
  readonly logger: Logger;
  /** Default: `Date.now` and `setTimeout`. */
  readonly clock?: ReadBudgetClock;
}

const DEFAULT_CALLS_PER_SECOND = 5;
const DEFAULT_BYTES_PER_SECOND = 2 * 1024 * 1024;
const DEFAULT_KEY_PREFIX = 'shoal:read-budget';
const DEFAULT_COMMAND_TIMEOUT_MS = 250;
const WARN_INTERVAL_MS = 30_000;
/** After a failed Redis call, reads skip the budget this long instead of paying the timeout each time. */
const BYPASS_AFTER_FAILURE_MS = 1_000;
/** How long `create()` waits for a client it made from a URL to become ready. */
const INITIAL_CONNECT_WAIT_MS = 1_000;

/**
 * Two token buckets per shard, each holding at most one second's allowance and refilled by the
 * time elapsed on the Redis server's clock, so every client shares one clock.
 *
 * KEYS[1] calls bucket, KEYS[2] bytes bucket (hashes: `tokens`, `at` in server milliseconds).
 * ARGV[1] `call` | `bytes`, ARGV[2] calls/s, ARGV[3] bytes/s, ARGV[4] bytes to debit.
 * `call` returns 0 when a call token was taken, else the milliseconds to wait before retrying.
 * `bytes` debits the bytes bucket (it may go negative: later calls wait until it is paid back).
 */
const TOKEN_BUCKET_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local callRate = tonumber(ARGV[2])
local byteRate = tonumber(ARGV[3])

local function refill(key, rate)
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if tokens == nil or at == nil then return rate end
  local elapsed = now - at
  if elapsed < 0 then elapsed = 0 end
  tokens = tokens + elapsed * rate / 1000
  if tokens > rate then tokens = rate end
  return tokens
end

local function store(key, tokens, rate)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  -- once the bucket would be full again, a missing key means the same thing
  redis.call('PEXPIRE', key, math.ceil((rate - tokens) * 1000 / rate) + 2000)
end

if ARGV[1] == 'bytes' then
  store(KEYS[2], refill(KEYS[2], byteRate) - tonumber(ARGV[4]), byteRate)
  return 0
end

local calls = refill(KEYS[1], callRate)
local bytes = refill(KEYS[2], byteRate)
local wait = 0
if calls < 1 then wait = (1 - calls) * 1000 / callRate end
if bytes < 0 then
  local paidBack = -bytes * 1000 / byteRate
  if paidBack > wait then wait = paidBack end
end
if wait > 0 then return math.ceil(wait) end
store(KEYS[1], calls - 1, callRate)
return 0
`;
const TOKEN_BUCKET_SHA = createHash('sha1').update(TOKEN_BUCKET_LUA).digest('hex');

/**
 * {@link ShardReadBudget} on Redis: an atomic Lua token bucket per (stream, shard), shared by
 * every worker of every application that uses the same key prefix. Redis down or slow never
 * stops a read: the call goes through at once and a warning is logged (at most every 30 s).
 *
 * @example
 * ```ts
 * const budget = await RedisShardReadBudget.create({ redis: 'redis://127.0.0.1:6379', logger });
 * await budget.acquireCall('orders', 'shardId-000000000000', signal);
 * const out = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
 * budget.recordBytes('orders', 'shardId-000000000000', bytesOf(out.Records));
 * await budget.close();
 * ```
 */
export class RedisShardReadBudget implements ShardReadBudget {
  private readonly redis: Redis;
  private readonly ownsClient: boolean;
  private readonly callsPerSecond: number;
  private readonly bytesPerSecond: number;
  private readonly keyPrefix: string;
  private readonly commandTimeoutMs: number;
  private readonly logger: Logger;
  private readonly clock: ReadBudgetClock;
  private readonly closing = new AbortController();
  private closed: Promise<void> | undefined;
  private lastWarnAt = Number.NEGATIVE_INFINITY;
  private bypassUntil = Number.NEGATIVE_INFINITY;
  private failing = false;

  /** Creates the budget; with a URL, also waits (up to 1 s) for the new client to be ready. */
  static async create(options: RedisShardReadBudgetOptions): Promise<RedisShardReadBudget> {
    const budget = new RedisShardReadBudget(options);
    if (budget.ownsClient) await waitUntilReady(budget.redis, INITIAL_CONNECT_WAIT_MS);
    return budget;
  }

  /** Prefer {@link RedisShardReadBudget.create}: a client made here from a URL is not ready yet. */
  constructor(options: RedisShardReadBudgetOptions) {
    this.callsPerSecond = positiveOption('RedisShardReadBudget', 'callsPerSecond', options.callsPerSecond ?? DEFAULT_CALLS_PER_SECOND);
    this.bytesPerSecond = positiveOption('RedisShardReadBudget', 'bytesPerSecond', options.bytesPerSecond ?? DEFAULT_BYTES_PER_SECOND);
    this.commandTimeoutMs = positiveOption(
      'RedisShardReadBudget',
      'commandTimeoutMs',
      options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    );
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    ({ redis: this.redis, ownsClient: this.ownsClient } = resolveRedisClient(
      options.redis,
      this.commandTimeoutMs,
      this.logger,
      'read budget',
    ));
  }

  async acquireCall(streamName: string, shardId: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const keys = this.keys(streamName, shardId);
    const wake = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    for (;;) {
      if (this.closing.signal.aborted || this.bypassed()) return;
      let waitMs: number;
      try {
        waitMs = toWaitMs(await this.run(keys, 'call', 0));
      } catch (err) {
        this.failedOpen(err, streamName, shardId);
        return;
      }
      this.recovered();
      if (waitMs <= 0) return;
      try {
        // A little jitter so workers told the same wait do not all come back at the same instant.
        await this.clock.sleep(waitMs + Math.random() * Math.min(10, waitMs / 10), wake);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (this.closing.signal.aborted) return;
        throw err;
      }
    }
  }

  recordBytes(streamName: string, shardId: string, bytes: number): void {
    if (!(bytes > 0) || this.closing.signal.aborted || this.bypassed()) return;
    this.run(this.keys(streamName, shardId), 'bytes', Math.round(bytes)).then(
      () => this.recovered(),
      (err: unknown) => this.failedOpen(err, streamName, shardId),
    );
  }

  /** Stops every pending wait (they resolve) and closes the client if the budget created it. */
  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async doClose(): Promise<void> {
    this.closing.abort();
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

  private keys(streamName: string, shardId: string): [string, string] {
    // The hash tag keeps both buckets of a shard in one Redis Cluster slot (the script needs both).
    const base = `${this.keyPrefix}:{${streamName}/${shardId}}`;
    return [`${base}:calls`, `${base}:bytes`];
  }

  private async run(keys: [string, string], mode: 'call' | 'bytes', bytes: number): Promise<unknown> {
    const args = [mode, this.callsPerSecond, this.bytesPerSecond, bytes] as const;
    // A client the budget created fails fast by itself; a caller's client may queue commands
    // while disconnected, so its calls are bounded here.
    const bound = <T>(p: Promise<T>): Promise<T> => (this.ownsClient ? p : withTimeout(p, this.commandTimeoutMs));
    try {
      return await bound(this.redis.evalsha(TOKEN_BUCKET_SHA, 2, ...keys, ...args));
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return bound(this.redis.eval(TOKEN_BUCKET_LUA, 2, ...keys, ...args));
    }
  }

  private bypassed(): boolean {
    if (this.clock.now() < this.bypassUntil) return true;
    // A client that is known to be down answers nothing useful; do not wait for its timeout.
    const status = this.redis.status;
    if (status === 'end' || status === 'close' || status === 'reconnecting') {
      this.failedOpen(new Error(`redis connection is ${status}`));
      return true;
    }
    return false;
  }

  private failedOpen(err: unknown, streamName?: string, shardId?: string): void {
    const now = this.clock.now();
    this.failing = true;
    this.bypassUntil = now + BYPASS_AFTER_FAILURE_MS;
    if (now - this.lastWarnAt < WARN_INTERVAL_MS) return;
    this.lastWarnAt = now;
    this.logger.warn(
      { err, streamName, shardId },
      'read budget unavailable: GetRecords calls go through unmetered until redis answers again',
    );
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.logger.info('read budget redis reachable again');
  }
}

const systemClock: ReadBudgetClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

function toWaitMs(reply: unknown): number {
  const waitMs = Number(reply);
  if (!Number.isFinite(waitMs)) throw new Error(`unexpected read budget script reply: ${String(reply)}`);
  return waitMs;
}
