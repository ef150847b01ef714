import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { KinesisClient, KinesisClientConfig } from '@aws-sdk/client-kinesis';
import {
  NatsLink,
  type CoordinationBus,
  type LeaseStatePublisher,
  type Logger,
  type NatsAuthOptions,
  type RedisConnectionOptions,
  type ShardReadBudget,
  type WorkerLoadStore,
} from '@shoal/coordinator';
import { InvalidScalingRulesError, resolveScalingRules, type ScalingRules, type TrafficSink } from '@shoal/autoscaler';
import { Redis } from 'ioredis';
import type { InitialPosition, ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import type { RetrievalOptions } from '../consumer/retrieval-options.js';
import type { EnhancedFanOutOptions, ResolvedFanOutOptions } from '../fan-out/fan-out-options.js';
import type { CoordinationOptions } from '../fleet/fleet-options.js';
import { InvalidOptionsError } from '../errors.js';
import type { StreamSelection } from '../streams/consumed-streams.js';
import type { WorkerAutoscaleOptions } from './autoscale-duty.js';
import { crossFieldIssues, describe } from './option-rules.js';

export type { CoordinationOptions, EnhancedFanOutOptions, RetrievalOptions };

/** Where the worker serves its metrics and health endpoints. */
export interface WorkerMetricsOptions {
  readonly port: number;
  readonly host?: string;
  /**
   * The leases one worker should carry: the leader then exports `shoal_desired_workers`, its
   * leases ÷ this (at most one worker per lease), for a Kubernetes HPA or KEDA to scale on.
   */
  readonly targetLeasesPerWorker?: number;
}

/** NATS servers (`host:port` or `nats://host:port`) and how to authenticate to them. */
export interface WorkerNatsOptions extends NatsAuthOptions {
  readonly servers: string | readonly string[];
}

export interface WorkerOptions {
  /** Names the consumer application; leases and checkpoints are kept per application. Required. */
  applicationName: string;
  /** The Kinesis stream to consume. Give exactly one of `streamName`, `streams` and `streamPattern`. */
  streamName?: string;
  /**
   * Several streams consumed by one fleet (KCL's multi-stream mode): one lease namespace for the
   * application, lease keys `<stream>:<shardId>`. Streams may be added or removed between
   * deployments; a removed stream's leases keep their checkpoints in the table.
   */
  streams?: readonly string[];
  /**
   * Every stream whose whole name matches, found with ListStreams at start and every
   * `streamRefreshIntervalMs`: a new matching stream is consumed from `initialPosition`, the
   * leases of one that stops matching (or is deleted) are drained and released.
   */
  streamPattern?: RegExp | string;
  /** How often a `streamPattern` is matched against the account's streams again. Default 60000 ms. */
  streamRefreshIntervalMs?: number;
  /** Creates the record processor for each lease this worker starts to own. Required. */
  processorFactory: ShardRecordProcessorFactory;
  /** A Kinesis client, or the config to build one (region, endpoint, credentials, requestHandler). Default: `{}` (the AWS default chain). */
  kinesis?: KinesisClient | KinesisClientConfig;
  /** A DynamoDB client, or the config to build one. Default: `{}`. */
  dynamoDb?: DynamoDBClient | DynamoDBClientConfig;
  /** Unique per worker process. Default: `<hostname>-<pid>-<random>`. */
  workerId?: string;
  /** DynamoDB table holding leases; several applications may share it. Default `shoal-leases`. */
  leaseTableName?: string;
  /** Where a shard without a checkpoint starts. Default `LATEST`, as in KCL. */
  initialPosition?: InitialPosition['type'] | InitialPosition;
  /** A worker whose heartbeat has not moved for this long is dead and loses its leases. Default 15000 ms. */
  leaseDurationMs?: number;
  /** How often the worker proves it is alive (one DynamoDB write for all its leases). Default 5000 ms. */
  heartbeatIntervalMs?: number;
  /** How often the worker reads the lease table to take, balance and hand off leases. Default 1000 ms. */
  leaseSyncIntervalMs?: number;
  /** How often the worker lists the stream's shards to create missing leases. Default 60000 ms. */
  shardSyncIntervalMs?: number;
  /** A worker takes at most this many leases. Default: no limit. */
  maxLeasesPerWorker?: number;
  /** A finished parent's lease is deleted this long after it was seen finished, once all its children started. Default 60000 ms. */
  leaseCleanupDelayMs?: number;
  /** How long a lease may take to drain (finish its batch, checkpoint) before it is released anyway. Default 10000 ms. */
  drainTimeoutMs?: number;
  /** How long a requested handoff may wait for the owner before the request is dropped. Default 30000 ms. */
  handoffWaitMs?: number;
  /** First delay before a failed processor call is retried. Default 100 ms. */
  processorRetryBaseMs?: number;
  /** Longest delay between processor retries. Default 10000 ms. */
  processorRetryMaxMs?: number;
  /**
   * How long a processor call may go on after its lease's `signal` aborted (the worker's
   * deadline passed, or a drain timed out) before another worker may own the lease. Failover
   * waits this long beyond the deadline, and a call still running after it is logged as an
   * error. Default 500 ms; at most `heartbeatIntervalMs`, and `coordination.livenessFailoverMs`
   * must cover `coordination.livenessSelfFenceMs` plus this.
   */
  abortGraceMs?: number;
  /**
   * A DynamoDB call without an answer after this long fails as a retryable timeout; a write so
   * abandoned may still have been applied, and every caller treats it as unknown. Default 2000 ms.
   */
  dynamoDbRequestTimeoutMs?: number;
  /** A Kinesis call (GetRecords, GetShardIterator, ListShards) without an answer after this long is retried. Default 5000 ms. */
  kinesisRequestTimeoutMs?: number;
  /** How shards are polled with GetRecords (the buffer limits and retry backoff apply to enhanced fan-out too). */
  retrieval?: RetrievalOptions;
  /**
   * Read every shard by enhanced fan-out (SubscribeToShard through a registered stream consumer)
   * instead of polling. Default: polling. Give every worker of an application the same choice.
   */
  fanOut?: EnhancedFanOutOptions;
  /**
   * Where the worker writes per-shard, per-minute traffic windows (records and bytes by arrival
   * minute, and by hash key) for the autoscaler, e.g. a `RedisTrafficStore`. Default: one on the
   * `redis` connection when that is given, else none.
   */
  trafficSink?: TrafficSink;
  /** How often the traffic windows are written. Default 10000 ms. */
  trafficFlushIntervalMs?: number;
  /**
   * The fleet's leader scales the streams it consumes to their traffic (see `@shoal/autoscaler`),
   * from the traffic windows its workers write to Redis, keeping the history there. Needs `redis`
   * and a coordination bus (`nats` or `coordinationBus`). Default: off.
   */
  autoscale?: WorkerAutoscaleOptions;
  /** Shared GetRecords budget (e.g. `RedisShardReadBudget`). Default: unlimited. */
  readBudget?: ShardReadBudget;
  /** Where every lease machine transition is published (e.g. `NatsLeaseStatePublisher`). Default: nowhere. */
  leaseStatePublisher?: LeaseStatePublisher;
  /**
   * The fleet's coordination bus (e.g. `NatsCoordinationBus`): leader election, sub-second
   * handoffs, and failover in about `livenessFailoverMs`. Default: none; workers coordinate
   * through the lease table alone (failover after `leaseDurationMs`). Give every worker of an
   * application the same choice.
   */
  coordinationBus?: CoordinationBus;
  /**
   * NATS servers, and how to authenticate to them (user and password, a token, a creds file, an
   * nkey seed file; TLS), or a ready `NatsLink`. The worker then builds its coordination bus and
   * lease-state publisher itself (unless `coordinationBus` or `leaseStatePublisher` are given)
   * and closes what it built when it closes.
   */
  nats?: WorkerNatsOptions | NatsLink;
  /**
   * A Redis server (`redis://`, `rediss://` for TLS; password and TLS files apart or in the URL)
   * or a ready ioredis client. The worker then builds its shared read budget and load store
   * itself (unless `readBudget` or `workerLoadStore` are given), on one connection that fails
   * open while Redis is away, and closes what it built when it closes.
   */
  redis?: RedisConnectionOptions | Redis;
  coordination?: CoordinationOptions;
  /**
   * Serves `/metrics` (Prometheus), `/healthz` and `/readyz` on this port (0: any free one; see
   * `Worker.metricsPort`) and host (default `0.0.0.0`). Default: no server, no metrics kept.
   */
  metrics?: WorkerMetricsOptions;
  /**
   * Where the worker reports its load (event-loop lag, records/s), e.g. `RedisWorkerLoadStore`.
   * With it the leader balances by load as well as by count; when loads are missing it falls
   * back to counts. Default: none (count balancing).
   */
  workerLoadStore?: WorkerLoadStore;
  /** How often the worker reports its load, and itself to live observers (the dashboard). Default 5000 ms. */
  loadReportIntervalMs?: number;
  /** A pino logger. Default: pino at level `info` to stdout. */
  logger?: Logger;
  /** For tests. Default: the system clock. */
  clock?: Clock;
}

/** Options after defaults were applied and every rule checked. */
export interface ResolvedWorkerOptions extends Required<
  Omit<
    WorkerOptions,
    | 'streamName'
    | 'streams'
    | 'streamPattern'
    | 'kinesis'
    | 'dynamoDb'
    | 'maxLeasesPerWorker'
    | 'readBudget'
    | 'leaseStatePublisher'
    | 'logger'
    | 'clock'
    | 'initialPosition'
    | 'retrieval'
    | 'fanOut'
    | 'coordinationBus'
    | 'coordination'
    | 'workerLoadStore'
    | 'trafficSink'
    | 'autoscale'
    | 'nats'
    | 'redis'
    | 'metrics'
  >
> {
  metrics: WorkerMetricsOptions | undefined;
  nats: WorkerNatsOptions | NatsLink | undefined;
  redis: RedisConnectionOptions | Redis | undefined;
  /** The single stream; undefined when the application consumes several. */
  streamName: string | undefined;
  streamSelection: StreamSelection;
  workerLoadStore: WorkerLoadStore | undefined;
  trafficSink: TrafficSink | undefined;
  autoscale: WorkerAutoscaleOptions | undefined;
  coordinationBus: CoordinationBus | undefined;
  coordination: Required<CoordinationOptions>;
  kinesis: KinesisClient | KinesisClientConfig;
  dynamoDb: DynamoDBClient | DynamoDBClientConfig;
  maxLeasesPerWorker: number | undefined;
  initialPosition: InitialPosition;
  retrieval: Required<RetrievalOptions>;
  fanOut: ResolvedFanOutOptions | undefined;
  readBudget: ShardReadBudget | undefined;
  leaseStatePublisher: LeaseStatePublisher | undefined;
  logger: Logger | undefined;
  clock: Clock | undefined;
}

const NAME = /^[a-zA-Z0-9_.-]+$/;
/** Node's timers wait at most this long; a longer one fires at once. */
const TIMER_MAX_MS = 2_147_483_647;
const positiveError = (issue: { input?: unknown }) => `must be a positive whole number of milliseconds; got ${describe(issue.input)}`;
const positiveMs = z.number({ error: positiveError }).int({ error: positiveError }).positive({ error: positiveError });
const nonNegativeError = (issue: { input?: unknown }) => `must be a whole number of milliseconds, 0 or more; got ${describe(issue.input)}`;
const nonNegativeMs = z.number({ error: nonNegativeError }).int({ error: nonNegativeError }).min(0, { error: nonNegativeError });

const streamNameSchema = z
  .string({ error: (issue) => `must be a stream name; got ${describe(issue.input)}` })
  .min(1)
  .max(128)
  .regex(NAME, 'may contain only letters, digits, "_", "." and "-"');

const NO_NATS_SERVER = 'must name a NATS server (host:port or nats://host:port) or a non-empty list of them';

const natsOptionsSchema = z
  .object({
    servers: z.union([z.string().min(1, NO_NATS_SERVER), z.array(z.string().min(1, NO_NATS_SERVER)).min(1, NO_NATS_SERVER)], {
      error: NO_NATS_SERVER,
    }),
    user: z.string().optional(),
    pass: z.string().optional(),
    token: z.string().optional(),
    credsFile: z.string().optional(),
    nkeySeedFile: z.string().optional(),
    tls: z
      .union([
        z.boolean(),
        z.object({ caFile: z.string().optional(), certFile: z.string().optional(), keyFile: z.string().optional() }).strict(),
      ])
      .optional(),
  })
  .strict();

const redisOptionsSchema = z
  .object({
    url: z.string().regex(/^rediss?:\/\/.+/u, 'must be a redis:// or rediss:// URL'),
    password: z.string().optional(),
    tls: z.object({ caFile: z.string().optional(), certFile: z.string().optional(), keyFile: z.string().optional() }).strict().optional(),
  })
  .strict();

const schema = z
  .object({
    applicationName: z.string().min(1).max(128).regex(NAME, 'may contain only letters, digits, "_", "." and "-"'),
    streamName: streamNameSchema.optional(),
    streams: z
      .array(streamNameSchema, { error: (issue) => `must be a list of stream names; got ${describe(issue.input)}` })
      .min(1, { error: 'must name at least one stream' })
      .refine((names) => new Set(names).size === names.length, { error: 'must not name a stream twice' })
      .optional(),
    streamPattern: z
      .union([z.instanceof(RegExp), z.string().min(1)], {
        error: (issue) => `must be a RegExp or a regular expression source; got ${describe(issue.input)}`,
      })
      .transform((pattern, context) => {
        if (pattern instanceof RegExp) return pattern;
        try {
          return new RegExp(pattern, 'u');
        } catch (error) {
          context.addIssue({ code: 'custom', message: `is not a valid regular expression: ${(error as Error).message}` });
          return z.NEVER;
        }
      })
      .optional(),
    streamRefreshIntervalMs: positiveMs.default(60_000),
    processorFactory: z.custom<ShardRecordProcessorFactory>(
      (value) => typeof value === 'function',
      'must be a function (shard) => ShardRecordProcessor',
    ),
    kinesis: z
      .custom<KinesisClient | KinesisClientConfig>(
        (value) => typeof value === 'object' && value !== null,
        'must be a KinesisClient or its config object',
      )
      .default({}),
    dynamoDb: z
      .custom<DynamoDBClient | DynamoDBClientConfig>(
        (value) => typeof value === 'object' && value !== null,
        'must be a DynamoDBClient or its config object',
      )
      .default({}),
    workerId: z
      .string()
      .min(1)
      .max(256)
      .default(() => `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`),
    leaseTableName: z.string().min(3).max(255).regex(NAME, 'may contain only letters, digits, "_", "." and "-"').default('shoal-leases'),
    initialPosition: z
      .union(
        [
          z.enum(['TRIM_HORIZON', 'LATEST']).transform((type) => ({ type }) as InitialPosition),
          z.object({ type: z.literal('TRIM_HORIZON') }),
          z.object({ type: z.literal('LATEST') }),
          z.object({ type: z.literal('AT_TIMESTAMP'), timestamp: z.date() }),
        ],
        {
          error: (issue) =>
            `must be 'TRIM_HORIZON', 'LATEST', { type: 'TRIM_HORIZON' | 'LATEST' } or { type: 'AT_TIMESTAMP', timestamp: Date }; got ${describe(issue.input)}`,
        },
      )
      .default({ type: 'LATEST' }),
    leaseDurationMs: positiveMs.default(15_000),
    heartbeatIntervalMs: positiveMs.default(5_000),
    leaseSyncIntervalMs: positiveMs.default(1_000),
    shardSyncIntervalMs: positiveMs.default(60_000),
    maxLeasesPerWorker: z.number().int().positive().optional(),
    drainTimeoutMs: positiveMs.default(10_000),
    leaseCleanupDelayMs: nonNegativeMs.default(60_000),
    handoffWaitMs: positiveMs.default(30_000),
    processorRetryBaseMs: positiveMs.default(100),
    processorRetryMaxMs: positiveMs.default(10_000),
    abortGraceMs: positiveMs.default(500),
    dynamoDbRequestTimeoutMs: positiveMs.default(2_000),
    kinesisRequestTimeoutMs: positiveMs.default(5_000),
    retrieval: z
      .object({
        maxRecordsPerCall: z.number().int().min(1).max(10_000).default(10_000),
        idleTimeBetweenReadsMs: nonNegativeMs.default(250),
        maxIdleTimeBetweenReadsMs: nonNegativeMs.default(1_000),
        idleReadsPerSecond: z.union([z.number().positive(), z.literal(Number.POSITIVE_INFINITY)]).default(100),
        maxBufferedRecords: z.number().int().positive().default(20_000),
        maxBufferedBytes: z
          .number()
          .int()
          .positive()
          .default(32 * 1024 * 1024),
        retryBaseMs: positiveMs.default(200),
        retryMaxMs: positiveMs.default(5_000),
      })
      .strict()
      .default({
        maxRecordsPerCall: 10_000,
        idleTimeBetweenReadsMs: 250,
        maxIdleTimeBetweenReadsMs: 1_000,
        idleReadsPerSecond: 100,
        maxBufferedRecords: 20_000,
        maxBufferedBytes: 32 * 1024 * 1024,
        retryBaseMs: 200,
        retryMaxMs: 5_000,
      }),
    fanOut: z
      .object({
        consumerName: z.string().min(1).max(128).regex(NAME, 'may contain only letters, digits, "_", "." and "-"'),
        subscribeClient: z.custom<KinesisClient>(hasMethods('send', 'destroy'), 'must be a KinesisClient').optional(),
        renewSubscriptionAfterMs: positiveMs
          .max(300_000, { error: 'must be at most 300000 ms: Kinesis ends a subscription after 5 minutes' })
          .default(290_000),
        maxEventGapMs: positiveMs
          .max(TIMER_MAX_MS, { error: `must be at most ${TIMER_MAX_MS} ms, the longest a timer can wait` })
          .default(30_000),
        shardEndCheckIntervalMs: nonNegativeMs.default(10_000),
      })
      .strict()
      .optional(),
    readBudget: z.custom<ShardReadBudget>(hasMethods('acquireCall', 'recordBytes', 'close'), 'must implement ShardReadBudget').optional(),
    leaseStatePublisher: z.custom<LeaseStatePublisher>(hasMethods('publish', 'close'), 'must implement LeaseStatePublisher').optional(),
    coordinationBus: z
      .custom<CoordinationBus>(
        hasMethods('publish', 'onEvent', 'publishPlan', 'onPlans', 'requestLiveness', 'serveLiveness'),
        'must implement CoordinationBus',
      )
      .optional(),
    trafficSink: z.custom<TrafficSink>(hasMethods('add'), 'must implement TrafficSink (add)').optional(),
    trafficFlushIntervalMs: positiveMs.default(10_000),
    autoscale: z
      .object({
        rules: z.record(z.string(), z.union([z.number(), z.boolean()])).optional(),
        strategy: z.enum(['uniform', 'hot-shards']).optional(),
        intervalMs: positiveMs.optional(),
        dryRun: z.boolean().optional(),
      })
      .strict()
      .optional(),
    workerLoadStore: z.custom<WorkerLoadStore>(hasMethods('report', 'readAll', 'close'), 'must implement WorkerLoadStore').optional(),
    nats: z.union([z.instanceof(NatsLink), natsOptionsSchema]).optional(),
    redis: z.union([z.instanceof(Redis), redisOptionsSchema]).optional(),
    metrics: z
      .object({
        port: z.number().int().min(0).max(65_535, 'must be a TCP port, 0 to 65535'),
        host: z.string().min(1).optional(),
        targetLeasesPerWorker: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
    loadReportIntervalMs: positiveMs.default(5_000),
    coordination: z
      .object({
        livenessIntervalMs: positiveMs.default(250),
        livenessSelfFenceMs: positiveMs.default(1_500),
        livenessFailoverMs: positiveMs.default(2_000),
        leadershipDurationMs: positiveMs.default(2_500),
        leadershipRenewIntervalMs: positiveMs.default(1_000),
        leaderFullSyncIntervalMs: positiveMs.default(5_000),
        ownLeaseCheckIntervalMs: positiveMs.default(30_000),
      })
      .strict()
      .default({
        livenessIntervalMs: 250,
        livenessSelfFenceMs: 1_500,
        livenessFailoverMs: 2_000,
        leadershipDurationMs: 2_500,
        leadershipRenewIntervalMs: 1_000,
        leaderFullSyncIntervalMs: 5_000,
        ownLeaseCheckIntervalMs: 30_000,
      }),
    logger: z.custom<Logger>(hasMethods('info', 'warn', 'error', 'child'), 'must be a pino logger').optional(),
    clock: z.custom<Clock>(hasMethods('now', 'monotonic', 'sleep'), 'must implement Clock').optional(),
  })
  .strict()
  .superRefine((options, context) => {
    for (const issue of crossFieldIssues(options)) context.addIssue({ code: 'custom', ...issue });
    const given = (['streamName', 'streams', 'streamPattern'] as const).filter((key) => options[key] !== undefined);
    if (given.length !== 1) {
      context.addIssue({
        code: 'custom',
        path: given.length === 0 ? ['streamName'] : [given[1]!],
        message:
          given.length === 0
            ? 'is required: give the stream to consume (or `streams`, a list, or `streamPattern`)'
            : `give only one of streamName, streams and streamPattern; got ${given.join(' and ')}`,
      });
    }
    if (options.autoscale) {
      try {
        resolveScalingRules(options.autoscale.rules as Partial<ScalingRules> | undefined);
      } catch (error) {
        if (!(error instanceof InvalidScalingRulesError)) throw error;
        for (const issue of error.issues) context.addIssue({ code: 'custom', path: ['autoscale', 'rules'], message: issue });
      }
      if (options.redis === undefined) {
        context.addIssue({
          code: 'custom',
          path: ['autoscale'],
          message: 'needs `redis`: the traffic windows and the scaling history are kept there',
        });
      }
      if (options.nats === undefined && options.coordinationBus === undefined) {
        context.addIssue({
          code: 'custom',
          path: ['autoscale'],
          message: 'needs a coordination bus (`nats` or `coordinationBus`): only the fleet’s leader scales',
        });
      }
    }
    const bus = options.coordinationBus;
    if (bus && (bus.application !== options.applicationName || bus.streamName !== options.streamName)) {
      const fleet = (application: string, stream: string | undefined) =>
        `application ${application}, ${stream === undefined ? 'several streams' : `stream ${stream}`}`;
      context.addIssue({
        code: 'custom',
        path: ['coordinationBus'],
        message: `serves ${fleet(bus.application, bus.streamName)}, but this worker is ${fleet(options.applicationName, options.streamName)}: give the bus the same application and streamName (none when the worker consumes several streams)`,
      });
    }
  })
  .transform(({ streams, streamPattern, ...rest }) => ({
    ...rest,
    streamName: rest.streamName,
    streamSelection: selectionOf(rest.streamName, streams, streamPattern),
  }));

function selectionOf(streamName: string | undefined, streams: readonly string[] | undefined, pattern: RegExp | undefined): StreamSelection {
  if (streams) return { kind: 'list', streamNames: streams };
  if (pattern) return { kind: 'pattern', pattern };
  return { kind: 'single', streamName: streamName! };
}

/**
 * Applies defaults and checks every field once, at construction. Throws
 * {@link InvalidOptionsError} listing each bad field by its path.
 */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionsError(['options: must be an object']);
  const result = schema.safeParse(options);
  if (!result.success) {
    throw new InvalidOptionsError(
      result.error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : 'options'}: ${issue.message}`),
    );
  }
  return result.data as ResolvedWorkerOptions;
}

/**
 * The point after its last successful heartbeat at which a worker stops processing on its own:
 * one heartbeat interval before anyone else could judge it dead.
 */
export function selfFenceAfterMs(options: Pick<ResolvedWorkerOptions, 'leaseDurationMs' | 'heartbeatIntervalMs'>): number {
  return options.leaseDurationMs - options.heartbeatIntervalMs;
}

function hasMethods(...names: string[]) {
  return (value: unknown): boolean =>
    typeof value === 'object' && value !== null && names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');
}
