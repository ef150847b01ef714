import { ListStreamsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { withRequestTimeout } from '../aws/request-timeout.js';
import { withThrottleRetry } from './list-shards.js';

export interface ListStreamsOptions {
  readonly signal?: AbortSignal;
  /** A page without an answer after this long fails with `RequestTimeoutError`. Default 5000 ms. */
  readonly requestTimeoutMs?: number;
}

/** Streams asked for per page: the most ListStreams returns. */
const PAGE_SIZE = 100;

/**
 * The names of every stream of the account and region, following pages by the last name seen
 * (`ExclusiveStartStreamName`, which the service and kinesalite both honour). Throttled pages
 * (ListStreams allows 5 calls a second per account) are retried with backoff.
 */
export async function listStreams(kinesis: KinesisClient, options: ListStreamsOptions = {}): Promise<string[]> {
  const names: string[] = [];
  for (;;) {
    const exclusiveStart = names.at(-1);
    const page = await withThrottleRetry(
      () =>
        withRequestTimeout(
          'Kinesis ListStreams',
          options.requestTimeoutMs ?? 5_000,
          (abortSignal) =>
            kinesis.send(
              new ListStreamsCommand({ Limit: PAGE_SIZE, ...(exclusiveStart ? { ExclusiveStartStreamName: exclusiveStart } : {}) }),
              {
                abortSignal,
              },
            ),
          options.signal,
        ),
      {},
    );
    const pageNames = page.StreamNames ?? [];
    names.push(...pageNames);
    if (!page.HasMoreStreams || pageNames.length === 0) return names;
  }
}
