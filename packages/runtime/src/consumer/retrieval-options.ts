/** How the shard consumer reads a shard with GetRecords. */
export interface RetrievalOptions {
  /** GetRecords `Limit`. Default 10000 (the Kinesis maximum). */
  maxRecordsPerCall?: number;
  /** Wait after a call that found the shard caught up (fewer records than asked, not behind the tip). Default 250 ms. */
  idleTimeBetweenReadsMs?: number;
  /**
   * A shard that keeps coming back empty is polled less often: the wait doubles with each empty
   * call in a row, up to this. It bounds how long the first record after a quiet spell waits to
   * be read, and an idle shard costs at most one GetRecords per this long. Default 1000 ms.
   */
  maxIdleTimeBetweenReadsMs?: number;
  /** Stop prefetching while this many records wait to be processed. Default 20000. */
  maxBufferedRecords?: number;
  /** Stop prefetching while this many bytes wait to be processed. Default 32 MiB. */
  maxBufferedBytes?: number;
  /** First delay after a throttled or failed GetRecords. Default 200 ms. */
  retryBaseMs?: number;
  /** Longest delay between GetRecords retries. Default 5000 ms. */
  retryMaxMs?: number;
}
