/** How the shard consumer reads a shard with GetRecords. */
export interface RetrievalOptions {
  /** GetRecords `Limit`. Default 10000 (the Kinesis maximum). */
  maxRecordsPerCall?: number;
  /** Wait after a call that found the shard caught up (fewer records than asked, not behind the tip). Default 250 ms. */
  idleTimeBetweenReadsMs?: number;
  /** Stop prefetching while this many records wait to be processed. Default 20000. */
  maxBufferedRecords?: number;
  /** Stop prefetching while this many bytes wait to be processed. Default 32 MiB. */
  maxBufferedBytes?: number;
  /** First delay after a throttled or failed GetRecords. Default 200 ms. */
  retryBaseMs?: number;
  /** Longest delay between GetRecords retries. Default 5000 ms. */
  retryMaxMs?: number;
}
