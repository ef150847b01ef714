import {
  NatsCoordinationBus,
  NatsLeaseStatePublisher,
  NatsLink,
  RedisShardReadBudget,
  RedisWorkerLoadStore,
  connectNats,
  createFailOpenRedis,
  type CoordinationBus,
  type LeaseStatePublisher,
  type Logger,
  type ShardReadBudget,
  type WorkerLoadStore,
} from '@shoal/coordinator';
import { RedisScalingHistory, RedisTrafficStore, type TrafficSink, type TrafficSource } from '@shoal/autoscaler';
import { Redis } from 'ioredis';
import type { ResolvedWorkerOptions } from './worker-options.js';

/** Redis calls of the read budget and load store give up after this long (both fail open). */
const REDIS_COMMAND_TIMEOUT_MS = 250;

/** The fleet's shared services, as given or as built from the `nats` and `redis` options. */
export interface FleetServiceSet {
  readonly coordinationBus: CoordinationBus | undefined;
  readonly leaseStatePublisher: LeaseStatePublisher | undefined;
  readonly readBudget: ShardReadBudget | undefined;
  readonly workerLoadStore: WorkerLoadStore | undefined;
}

/**
 * Builds what the `nats` and `redis` options ask for and the caller did not give ready-made: the
 * coordination bus and lease-state publisher on one NATS link, the read budget and load store on
 * one Redis connection. `close()` closes only what was built here, the services before the
 * connections they use.
 */
export class FleetServices implements FleetServiceSet {
  readonly coordinationBus: CoordinationBus | undefined;
  readonly leaseStatePublisher: LeaseStatePublisher | undefined;
  readonly readBudget: ShardReadBudget | undefined;
  readonly workerLoadStore: WorkerLoadStore | undefined;
  /** Where the worker's traffic windows go (for the autoscaler). */
  readonly trafficSink: TrafficSink | undefined;
  /** Where the autoscaler reads traffic and keeps its history, when the worker's leader scales. */
  readonly autoscaling: { readonly traffic: TrafficSource & TrafficSink; readonly history: RedisScalingHistory } | undefined;
  private readonly built: { close(): Promise<void> }[] = [];
  private readonly connections: (() => Promise<void>)[] = [];

  constructor(options: ResolvedWorkerOptions, logger: Logger) {
    const { applicationName: application, streamName, workerId } = options;
    const link = options.nats === undefined ? undefined : this.natsLink(options, logger);
    this.coordinationBus =
      options.coordinationBus ?? (link && this.keep(new NatsCoordinationBus({ link, application, streamName, logger })));
    this.leaseStatePublisher =
      options.leaseStatePublisher ?? (link && this.keep(new NatsLeaseStatePublisher({ link, application, logger })));
    const redis = options.redis === undefined ? undefined : this.redisClient(options.redis, logger);
    this.readBudget = options.readBudget ?? (redis && this.keep(new RedisShardReadBudget({ redis, application, logger })));
    this.workerLoadStore =
      options.workerLoadStore ??
      (redis && this.keep(new RedisWorkerLoadStore({ redis, reportIntervalMs: options.loadReportIntervalMs, logger })));
    const traffic = redis && new RedisTrafficStore({ redis });
    this.trafficSink = options.trafficSink ?? traffic;
    // A sink given ready-made that can also be read (another window, another prefix) is where the autoscaler reads.
    const given = options.trafficSink && isTrafficSource(options.trafficSink) ? options.trafficSink : undefined;
    this.autoscaling =
      options.autoscale && redis && traffic ? { traffic: given ?? traffic, history: new RedisScalingHistory({ redis }) } : undefined;
    logger.debug({ workerId, nats: link !== undefined, redis: redis !== undefined }, 'fleet services built');
  }

  /** Closes what was built here; a failure to close one does not keep the others open. */
  async close(): Promise<void> {
    await Promise.allSettled(this.built.splice(0).map((service) => service.close()));
    await Promise.allSettled(this.connections.splice(0).map((close) => close()));
  }

  private natsLink(options: ResolvedWorkerOptions, logger: Logger): NatsLink {
    const nats = options.nats!;
    if (nats instanceof NatsLink) return nats;
    const { servers, ...auth } = nats;
    const link = connectNats({ ...auth, servers: typeof servers === 'string' ? servers : [...servers], name: options.workerId, logger });
    this.connections.push(() => link.close());
    return link;
  }

  private redisClient(redis: NonNullable<ResolvedWorkerOptions['redis']>, logger: Logger): Redis {
    if (redis instanceof Redis) return redis;
    const client = createFailOpenRedis(redis, REDIS_COMMAND_TIMEOUT_MS, logger, 'worker');
    this.connections.push(async () => void client.disconnect());
    return client;
  }

  private keep<T extends { close(): Promise<void> }>(service: T): T {
    this.built.push(service);
    return service;
  }
}

function isTrafficSource(sink: TrafficSink): sink is TrafficSink & TrafficSource {
  return typeof (sink as Partial<TrafficSource>).shardMinutes === 'function';
}
