import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger, ShardReadBudget } from '@shoal/coordinator';
import type { Clock } from '../clock.js';
import type { ShardObserver } from '../metrics/worker-observer.js';
import { GetRecordsFetcher, type StartingPosition } from './get-records-fetcher.js';
import type { IdleReadPacer } from './idle-read-pacer.js';
import type { RetrievalOptions } from './retrieval-options.js';
import type { RecordSource } from './shard-consumer.js';

/** The shard a lease reads. */
export interface ShardToRead {
  readonly streamName: string;
  readonly shardId: string;
  readonly parentShardIds: readonly string[];
}

/** What a source reports to, and logs with. */
export interface SourceContext {
  readonly observer: ShardObserver;
  readonly logger: Logger;
}

/** Makes the record source of each lease the worker runs: polling or enhanced fan-out, the same for every lease. */
export type RecordSourceFactory = (shard: ShardToRead, start: StartingPosition, context: SourceContext) => RecordSource;

export interface PollingDependencies {
  readonly kinesis: KinesisClient;
  readonly retrieval: Required<RetrievalOptions>;
  readonly budget: ShardReadBudget;
  readonly idlePacer: IdleReadPacer;
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
}

/** Sources that poll with GetRecords. */
export function pollingSources(deps: PollingDependencies): RecordSourceFactory {
  return (shard, start, { observer, logger }) =>
    new GetRecordsFetcher({
      kinesis: deps.kinesis,
      streamName: shard.streamName,
      shardId: shard.shardId,
      parentShardIds: shard.parentShardIds,
      start,
      retrieval: deps.retrieval,
      budget: deps.budget,
      idlePacer: deps.idlePacer,
      observer,
      requestTimeoutMs: deps.requestTimeoutMs,
      clock: deps.clock,
      logger,
    });
}
