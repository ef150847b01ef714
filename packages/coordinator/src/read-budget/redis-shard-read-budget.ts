import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { ShardReadBudget } from './shard-read-budget.js';
import { positiveOption, resolveRedisClient, waitUntilReady, withTimeout } from '../redis/fail-open-redis.js';
import { LocalShareLimiter } from './local-share-limiter.js';

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
  /**
   * The application this budget reads for: the shard's calls are shared fairly between the
   * applications that asked within `activeWindowMs`. Default `default`.
   */
  readonly application?: string;
  /** An application counts in the shares this long after its last call. Default 3000 ms. */
  readonly activeWindowMs?: number;
  /** Longest wait for one Redis call before the budget lets the read through. Default 250. */
  readonly commandTimeoutMs?: number;
  readonly logger: Logger;
  /** Default: `Date.now` and `setTimeout`. */
  readonly clock?: ReadBudgetClock;
}

const DEFAULT_CALLS_PER_SECOND = 5;
const DEFAULT_BYTES_PER_SECOND = 2 * 1024 * 1024;
const DEFAULT_KEY_PREFIX = 'shoal:read-budget';
const DEFAULT_APPLICATION = 'default';
const DEFAULT_ACTIVE_WINDOW_MS = 3_000;
/**
 * The call log spans a second and this much: a call reaches Kinesis a little after its grant
 * (the client's event loop, the network), and Kinesis counts on its own clock.
 */
const CALL_LOG_MARGIN_MS = 50;
const DEFAULT_COMMAND_TIMEOUT_MS = 250;
const WARN_INTERVAL_MS = 30_000;
/** After a failed Redis call, reads skip the budget this long instead of paying the timeout each time. */
const BYPASS_AFTER_FAILURE_MS = 1_000;
/** How long `create()` waits for a client it made from a URL to become ready. */
const INITIAL_CONNECT_WAIT_MS = 1_000;

/**
 * Per shard, shared by every application: a log of the calls of the last second (a sorted set
 * by server time: no one-second window ever holds more calls than the rate, as Kinesis counts
 * them) and a bytes token bucket holding at most one second's allowance, refilled by the time
 * elapsed; everything runs on the Redis server's clock, so every client shares one. For
 * fairness, a calls bucket per application holds its share: the shard's rate divided by the
 * applications that asked within the last window.
 *
 * KEYS[1] the shard's call log, KEYS[2] its bytes bucket (a hash: `tokens`, `at` in server
 * milliseconds), KEYS[3] the applications that asked recently (sorted set, score = last ask),
 * KEYS[4] this application's calls bucket; the other applications' buckets are KEYS[4]'s key with
 * their name instead of ARGV[5].
 * ARGV[1] `call` | `bytes`, ARGV[2] calls/s, ARGV[3] bytes/s, ARGV[4] bytes to debit,
 * ARGV[5] this application, ARGV[6] the window in ms, ARGV[7] the key of an application's bucket
 * without its name, ARGV[8] the margin in ms the call log adds to its second, ARGV[9] the key of
 * an application's "refused within the last second" marker without its name.
 * `call` returns `{wait, applications}`: wait 0 when the call may go, else the milliseconds to
 * wait before asking again. A call needs room in the shard's log and a token of its own share;
 * with its share spent it may still use room in the log as long as a call is left for each other
 * application that wants more than it gets (was refused within the last second), so a share
 * nobody uses goes to the others while one that is wanted is kept for whoever wants it.
 * `bytes` debits the shared bytes bucket (it may go negative: later calls wait until it is paid back).
 */
const TOKEN_BUCKET_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local callRate = tonumber(ARGV[2])
local byteRate = tonumber(ARGV[3])

-- Tokens refilled at rate a second, up to capacity (one second's worth unless given).
local function refill(key, rate, capacity)
  capacity = capacity or rate
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if tokens == nil or at == nil then return capacity end
  local elapsed = now - at
  if elapsed < 0 then elapsed = 0 end
  tokens = tokens + elapsed * rate / 1000
  if tokens > capacity then tokens = capacity end
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

local app = ARGV[5]
local window = tonumber(ARGV[6])
redis.call('ZADD', KEYS[3], now, app)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
-- At most the 64 applications that asked last count (a flood of names cannot grow it).
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -65)
redis.call('PEXPIRE', KEYS[3], math.ceil(window * 2))
local applications = redis.call('ZRANGE', KEYS[3], 0, -1)
local share = callRate / #applications

-- The shard's calls: a log of the last second's (plus a margin for the time between a grant
-- and the call reaching Kinesis), so no one-second window ever holds more than the rate.
local logMs = 1000 + tonumber(ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - logMs)
local calls = callRate - redis.call('ZCARD', KEYS[1])
-- An application's bucket holds at least one call, so a share below one call a second still
-- grants a call every so often.
local capacity = share
if capacity < 1 then capacity = 1 end
local mine = refill(KEYS[4], share, capacity)
local bytes = refill(KEYS[2], byteRate)
-- A call past one's own share may take only what leaves a call for each other application
-- that wants more than it gets (was refused within the last second).
local reserved = 0
for _, other in ipairs(applications) do
  if other ~= app and redis.call('EXISTS', ARGV[9] .. other) == 1 then reserved = reserved + 1 end
end
-- Never all of the shard: whoever asks is left a call at least.
if reserved > callRate - 1 then reserved = callRate - 1 end

local wait = 0
if calls < 1 then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = tonumber(oldest[2]) + logMs - now
  if wait < 1 then wait = 1 end
end
if mine < 1 and calls - reserved < 1 then
  local ownBack = (1 - mine) * 1000 / share
  local leftBack = (1 + reserved - calls) * 1000 / callRate
  local sooner = ownBack
  if leftBack < sooner then sooner = leftBack end
  if sooner > wait then wait = sooner end
end
if bytes < 0 then
  local paidBack = -bytes * 1000 / byteRate
  if paidBack > wait then wait = paidBack end
end
if wait > 0 then
  -- Marked until a second past its wait (two at most): it is still wanting then.
  local marked = math.ceil(wait) + 1000
  if marked > 2000 then marked = 2000 end
  redis.call('SET', ARGV[9] .. app, '1', 'PX', marked)
  return { math.ceil(wait), #applications }
end
redis.call('ZADD', KEYS[1], now, string.format('%.3f', now))
redis.call('PEXPIRE', KEYS[1], logMs + 1000)
if mine >= 1 then store(KEYS[4], mine - 1, capacity) else store(KEYS[4], mine, capacity) end
return { 0, #applications }
`;
const TOKEN_BUCKET_SHA = createHash('sha1').update(TOKEN_BUCKET_LUA).digest('hex');

/**
 * {@link ShardReadBudget} on Redis: atomic Lua token buckets per (stream, shard), shared by
 * every worker of every application that uses the same key prefix, and fair between those
 * applications (see the script above). Redis down or slow never stops a read for long: each
 * worker then keeps to its application's fair share of the shard locally, the share as of the
 * last answer (the whole rate before any), and a warning is logged (at most every 30 s).
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
  private readonly application: string;
  private readonly activeWindowMs: number;
  /** Per shard, the applications sharing it at the last answer: the local share while Redis is down. */
  private readonly sharedBy = new Map<string, number>();
  private readonly localShares = new LocalShareLimiter();
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
    this.application = options.application ?? DEFAULT_APPLICATION;
    this.activeWindowMs = positiveOption('RedisShardReadBudget', 'activeWindowMs', options.activeWindowMs ?? DEFAULT_ACTIVE_WINDOW_MS);
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
    const shard = `${streamName}/${shardId}`;
    for (;;) {
      if (this.closing.signal.aborted) return;
      let waitMs: number;
      if (this.bypassed()) {
        waitMs = this.localShares.take(shard, this.callsPerSecond / (this.sharedBy.get(shard) ?? 1), this.clock.now());
      } else {
        try {
          const answer = toCallAnswer(await this.run(keys, 'call', 0));
          waitMs = answer.waitMs;
          this.rememberSharing(shard, answer.applications);
          this.recovered();
        } catch (err) {
          this.failedOpen(err, streamName, shardId);
          continue;
        }
      }
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

  private keys(streamName: string, shardId: string): ShardKeys {
    // The hash tag keeps every key of a shard in one Redis Cluster slot (the script needs them all).
    const base = `${this.keyPrefix}:{${streamName}/${shardId}}`;
    // Buckets and markers in key spaces of their own: no application name makes one the other.
    const appPrefix = `${base}:app:`;
    const waitingPrefix = `${base}:waiting:`;
    return {
      keys: [`${base}:calls`, `${base}:bytes`, `${base}:applications`, `${appPrefix}${this.application}`],
      appPrefix,
      waitingPrefix,
    };
  }

  /** Keeps the count of applications per shard for the local share, bounded by the shards this worker reads. */
  private rememberSharing(shard: string, applications: number): void {
    this.sharedBy.delete(shard);
    this.sharedBy.set(shard, applications);
    if (this.sharedBy.size > MAX_REMEMBERED_SHARDS) this.sharedBy.delete(this.sharedBy.keys().next().value!);
  }

  private async run({ keys, appPrefix, waitingPrefix }: ShardKeys, mode: 'call' | 'bytes', bytes: number): Promise<unknown> {
    const args = [
      mode,
      this.callsPerSecond,
      this.bytesPerSecond,
      bytes,
      this.application,
      this.activeWindowMs,
      appPrefix,
      CALL_LOG_MARGIN_MS,
      waitingPrefix,
    ] as const;
    // A client the budget created fails fast by itself; a caller's client may queue commands
    // while disconnected, so its calls are bounded here.
    const bound = <T>(p: Promise<T>): Promise<T> => (this.ownsClient ? p : withTimeout(p, this.commandTimeoutMs));
    try {
      return await bound(this.redis.evalsha(TOKEN_BUCKET_SHA, keys.length, ...keys, ...args));
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return bound(this.redis.eval(TOKEN_BUCKET_LUA, keys.length, ...keys, ...args));
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

interface ShardKeys {
  readonly keys: readonly [string, string, string, string];
  /** The key of an application's calls bucket, less the application's name. */
  readonly appPrefix: string;
  /** The key of an application's "refused lately" marker, less the application's name. */
  readonly waitingPrefix: string;
}

/** Shards whose application count is remembered at most (far above what one worker reads). */
const MAX_REMEMBERED_SHARDS = 20_000;

function toCallAnswer(reply: unknown): { waitMs: number; applications: number } {
  const [waitMs, applications] = Array.isArray(reply) ? reply.map(Number) : [Number.NaN, Number.NaN];
  if (!Number.isFinite(waitMs) || !Number.isInteger(applications) || applications! < 1) {
    throw new Error(`unexpected read budget script reply: ${String(reply)}`);
  }
  return { waitMs: waitMs!, applications: applications! };
}
