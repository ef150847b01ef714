import type { KinesisClient } from '@aws-sdk/client-kinesis';

/**
 * Reading by enhanced fan-out: each lease's shard is pushed to the worker over SubscribeToShard
 * through a registered stream consumer, with its own 2 MiB/s per shard, instead of polled with
 * GetRecords from the 2 MiB/s every polling application shares.
 */
export interface EnhancedFanOutOptions {
  /**
   * The stream consumer's name, registered on each consumed stream when it is missing (every
   * worker of the application gives the same name; the first to find it missing registers it).
   * A stream holds at most 20 consumers. The consumer stays registered when the worker stops:
   * deregister it with `shoal fan-out deregister` (or `deregisterStreamConsumer`) when the
   * application is retired.
   */
  consumerName: string;
  /**
   * The client SubscribeToShard is sent with. AWS serves SubscribeToShard only over HTTP/2, the
   * SDK's default handler; an emulator such as kinesis-local only over HTTP/1.1
   * (`NodeHttpHandler`). Each open subscription holds a connection, so give an HTTP/1.1 handler
   * enough sockets (`NodeHttpHandler`'s default is 50). Default: when the worker's `kinesis` is a
   * config, a client built from it for subscriptions alone (HTTP/1.1 without a socket cap when
   * the config's handler is a `NodeHttpHandler`); when it is a ready client, that client.
   */
  subscribeClient?: KinesisClient;
  /**
   * A subscription is renewed after this long, before Kinesis ends it at 5 minutes, from the
   * last continuation sequence number. Default 290000 ms.
   */
  renewSubscriptionAfterMs?: number;
  /**
   * A subscription that delivers no event for this long is dropped and made again (Kinesis sends
   * one at least every 5 seconds, even with no records). Default 30000 ms.
   */
  maxEventGapMs?: number;
  /**
   * How often a shard whose subscription is caught up and delivers nothing looks, in the stream's
   * shard list (one ListShards a stream per worker, shared by its shards), whether it was closed.
   * Kinesis ends a closed shard's subscription with its child shards, so this is a safety net;
   * servers that never do (kinesis-local) rely on it. 0 turns it off. Default 10000 ms.
   */
  shardEndCheckIntervalMs?: number;
}

/** Enhanced fan-out options after defaults were applied. */
export type ResolvedFanOutOptions = Required<Omit<EnhancedFanOutOptions, 'subscribeClient'>> &
  Pick<EnhancedFanOutOptions, 'subscribeClient'>;
