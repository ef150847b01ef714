import type { KinesisClient, KinesisClientConfig } from '@aws-sdk/client-kinesis';
import type { Logger, ShardReadBudget } from '@shoal/coordinator';
import type { Clock } from '../clock.js';
import type { RecordSourceFactory } from '../consumer/record-sources.js';
import type { RetrievalOptions } from '../consumer/retrieval-options.js';
import { ClosedShardWatch } from './closed-shard-watch.js';
import type { ResolvedFanOutOptions } from './fan-out-options.js';
import { StreamConsumers } from './stream-consumers.js';
import { SubscribeToShardFetcher } from './subscribe-to-shard-fetcher.js';
import { subscriptionClient } from './subscription-client.js';

export interface FanOutDependencies {
  readonly kinesis: KinesisClient;
  /** The worker's Kinesis option, to build the client subscriptions go through (see {@link subscriptionClient}). */
  readonly kinesisOption: KinesisClient | KinesisClientConfig;
  readonly fanOut: ResolvedFanOutOptions;
  readonly retrieval: Required<RetrievalOptions>;
  readonly budget: ShardReadBudget;
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * A worker's enhanced fan-out: its registered stream consumers (one per stream, registered on
 * first use) and the SubscribeToShard source of each lease, sharing one closed-shard watch.
 */
export class FanOut {
  readonly consumers: StreamConsumers;
  private readonly closedShards: ClosedShardWatch | undefined;
  private readonly subscriptions: { readonly client: KinesisClient; readonly owned: boolean };

  constructor(private readonly deps: FanOutDependencies) {
    const { kinesis, fanOut, requestTimeoutMs, clock, logger } = deps;
    this.consumers = new StreamConsumers({ kinesis, consumerName: fanOut.consumerName, requestTimeoutMs, clock, logger });
    this.subscriptions = fanOut.subscribeClient ? { client: fanOut.subscribeClient, owned: false } : subscriptionClient(deps.kinesisOption);
    this.closedShards =
      fanOut.shardEndCheckIntervalMs > 0
        ? new ClosedShardWatch({ kinesis, intervalMs: fanOut.shardEndCheckIntervalMs, requestTimeoutMs, clock, logger })
        : undefined;
  }

  /** Registers (or finds) the consumer on each stream, and waits until every one is ACTIVE. */
  async prepare(streamNames: readonly string[], signal?: AbortSignal): Promise<void> {
    await Promise.all(streamNames.map((streamName) => this.consumers.consumerArn(streamName, signal)));
  }

  /** Stops registrations in progress and frees the subscription client built here (the worker closes). */
  close(): void {
    this.consumers.close();
    if (this.subscriptions.owned) this.subscriptions.client.destroy();
  }

  readonly sources: RecordSourceFactory = (shard, start, { logger }) => {
    const { kinesis, fanOut, retrieval, budget, requestTimeoutMs, clock } = this.deps;
    return new SubscribeToShardFetcher({
      subscribeClient: this.subscriptions.client,
      kinesis,
      streamName: shard.streamName,
      shardId: shard.shardId,
      start,
      consumerArn: (signal) => this.consumers.consumerArn(shard.streamName, signal),
      consumerMissing: () => this.consumers.forget(shard.streamName),
      timings: fanOut,
      retrieval,
      ...(this.closedShards ? { closedShards: this.closedShards } : {}),
      budget,
      requestTimeoutMs,
      clock,
      logger,
    });
  };
}
