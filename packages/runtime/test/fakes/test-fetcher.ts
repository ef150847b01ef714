import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { UnlimitedShardReadBudget } from '@shoal/coordinator';
import { pino } from 'pino';
import { systemClock } from '../../src/clock.js';
import type { RetrievalOptions } from '../../src/consumer/retrieval-options.js';
import {
  SubscribeToShardFetcher,
  type SubscribeToShardFetcherOptions,
  type SubscriptionTimings,
} from '../../src/fan-out/subscribe-to-shard-fetcher.js';

/** Retrieval options of a fast test: short retries, room for 20,000 records. */
export const TEST_RETRIEVAL: Required<RetrievalOptions> = {
  maxRecordsPerCall: 10_000,
  idleTimeBetweenReadsMs: 50,
  maxIdleTimeBetweenReadsMs: 200,
  idleReadsPerSecond: 100,
  maxBufferedRecords: 20_000,
  maxBufferedBytes: 32 * 1024 * 1024,
  retryBaseMs: 20,
  retryMaxMs: 200,
};

/** Production subscription timings, without the closed-shard check. */
export const TEST_TIMINGS: SubscriptionTimings = { renewSubscriptionAfterMs: 290_000, maxEventGapMs: 30_000, shardEndCheckIntervalMs: 0 };

export type TestFetcherOverrides = Partial<Omit<SubscribeToShardFetcherOptions, 'timings' | 'retrieval'>> & {
  readonly timings?: Partial<SubscriptionTimings>;
  readonly retrieval?: Partial<RetrievalOptions>;
};

/**
 * A SubscribeToShardFetcher of shard 0 of `stream` from TRIM_HORIZON, subscribing and making its
 * other calls through `client`, with the consumer `arn:consumer` already ACTIVE, no read budget,
 * the system clock and a silent logger; `overrides` replace any of these.
 */
export function createTestFetcher(client: KinesisClient, overrides: TestFetcherOverrides = {}): SubscribeToShardFetcher {
  const { timings, retrieval, ...rest } = overrides;
  return new SubscribeToShardFetcher({
    subscribeClient: client,
    kinesis: client,
    streamName: 'stream',
    shardId: 'shardId-000000000000',
    start: { type: 'TRIM_HORIZON' },
    consumerArn: async () => 'arn:consumer',
    consumerMissing: () => {},
    budget: new UnlimitedShardReadBudget(),
    requestTimeoutMs: 2_000,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    ...rest,
    timings: { ...TEST_TIMINGS, ...timings },
    retrieval: { ...TEST_RETRIEVAL, ...retrieval },
  });
}
