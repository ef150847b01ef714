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
  /**
   * GetRecords calls a second the whole worker spends on idle shards (those whose last call came
   * back empty), taken in turn: with N idle shards each is polled every max(the idle wait, N ÷ this
   * many seconds). Shards with records never wait for it. Default 100, so 2,000 quiet shards cost
   * a tenth of a core and a record arriving at one of them waits at most 20 s; raise it for a
   * shorter wait on a node of many quiet shards, or set `Infinity` to poll each at its idle wait.
   */
  idleReadsPerSecond?: number;
  /** Stop prefetching while this many records wait to be processed. Default 20000. */
  maxBufferedRecords?: number;
  /** Stop prefetching while this many bytes wait to be processed. Default 32 MiB. */
  maxBufferedBytes?: number;
  /** First delay after a throttled or failed GetRecords. Default 200 ms. */
  retryBaseMs?: number;
  /** Longest delay between GetRecords retries. Default 5000 ms. */
  retryMaxMs?: number;
}
