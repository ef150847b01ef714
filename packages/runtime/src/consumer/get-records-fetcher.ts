import { GetRecordsCommand, GetShardIteratorCommand, type GetShardIteratorCommandInput, type KinesisClient } from '@aws-sdk/client-kinesis';
import { withRequestTimeout, type Logger, type ShardReadBudget } from '@shoal/coordinator';
import { Backoff } from '../backoff.js';
import type { Clock } from '../clock.js';
import type { GetRecordsOutcome, ShardObserver } from '../metrics/worker-observer.js';
import { FetchBuffer } from './fetch-buffer.js';
import type { FetchResult, StartingPosition } from './fetch-result.js';
import type { IdleReadPacer } from './idle-read-pacer.js';
import { errorName, isPermanent, isThrottling } from './kinesis-errors.js';
import type { RetrievalOptions } from './retrieval-options.js';
import { childShardIdsOf, childrenIfShardGone } from './shard-gone.js';
import { UserRecordReader } from './user-record-reader.js';

export type { FetchResult, StartingPosition } from './fetch-result.js';

export interface GetRecordsFetcherOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly shardId: string;
  /** The shard's parents, for the log when the shard turns out to be gone. */
  readonly parentShardIds?: readonly string[];
  readonly start: StartingPosition;
  readonly retrieval: Required<RetrievalOptions>;
  readonly budget: ShardReadBudget;
  /** The worker's idle polls, taken in turn (see `RetrievalOptions.idleReadsPerSecond`); none: no pacing. */
  readonly idlePacer?: IdleReadPacer;
  /** Counts each GetRecords call by how it ended. */
  readonly observer?: ShardObserver;
  /** A call without an answer after this long fails (and is retried) as a timeout. */
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Reads one shard ahead of its processor: a loop of GetRecords calls fills a bounded buffer
 * (records and bytes) that the shard consumer drains batch by batch, so fetching and
 * processing overlap. A shard that is caught up is polled every `idleTimeBetweenReadsMs` (a shard
 * that stays empty less and less often, doubling the wait up to `maxIdleTimeBetweenReadsMs`, so
 * idle shards cost little and the first record after a quiet spell waits at most that long, or
 * its turn among the worker's idle shards when an `idlePacer` spreads them over a rate), one
 * behind its tip (a full batch, or MillisBehindLatest > 0) at once; throttling and
 * errors back off exponentially; an expired iterator is renewed right after the last record
 * fetched. Reaching the end of a closed shard is reported once, after its last records.
 */
export class GetRecordsFetcher {
  private readonly buffer: FetchBuffer;
  private readonly controller = new AbortController();
  private loop: Promise<void> | undefined;
  /** The last Kinesis (aggregate) record fetched, to renew an expired iterator after it. */
  private lastFetchedSequence: string | undefined;
  private readonly userRecords: UserRecordReader;
  /** The last GetRecords call came back caught up: the loop waits before the next. */
  private caughtUp = false;
  /** Cuts the wait between caught-up calls short (see `readTail`). */
  private idleWake: AbortController | undefined;
  /** Called after every GetRecords answer, whatever it held. */
  private readonly answerWaiters = new Set<() => void>();

  constructor(private readonly options: GetRecordsFetcherOptions) {
    const { retrieval, shardId, logger } = options;
    this.buffer = new FetchBuffer({ maxRecords: retrieval.maxBufferedRecords, maxBytes: retrieval.maxBufferedBytes });
    this.userRecords = new UserRecordReader(options.start, (error) =>
      logger.warn({ shardId, err: error }, 'corrupt KPL aggregate delivered as one plain record'),
    );
  }

  start(): void {
    this.loop ??= this.run()
      .catch((error: unknown) => {
        if (!this.controller.signal.aborted) this.buffer.fail(error);
      })
      // No answer will come any more: a tail read waiting for one ends now.
      .finally(() => this.answered());
  }

  /** The next batch in shard order; waits while nothing is buffered. */
  next(signal?: AbortSignal): Promise<FetchResult> {
    return this.buffer.next(signal);
  }

  /**
   * For a graceful drain of a caught-up shard: reads the shard's tip now rather than at the next
   * poll, so the records put since the last call are processed by this owner, not left waiting
   * through the handoff. Resolves the records read (undefined when the shard was not caught up,
   * records are still buffered, or no answer came within `timeoutMs`).
   */
  async readTail(timeoutMs: number): Promise<FetchResult | undefined> {
    if (!this.caughtUp || !this.buffer.isEmpty || this.buffer.failed || this.controller.signal.aborted) return undefined;
    const answered = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (answer: boolean) => {
        clearTimeout(timer);
        this.answerWaiters.delete(onAnswer);
        resolve(answer);
      };
      const onAnswer = () => done(true);
      this.answerWaiters.add(onAnswer);
    });
    this.idleWake?.abort();
    if (!(await answered)) return undefined;
    return this.buffer.peek()?.type === 'records' ? this.next() : undefined;
  }

  /** Stops fetching and drops whatever was buffered. */
  async stop(): Promise<void> {
    this.controller.abort();
    this.answered();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { kinesis, streamName, shardId, retrieval, budget, clock, logger } = this.options;
    const signal = this.controller.signal;
    const backoff = new Backoff({ baseMs: retrieval.retryBaseMs, maxMs: retrieval.retryMaxMs });
    let iterator: string | undefined;
    try {
      iterator = await this.withRetry(() => this.getIterator(this.options.start), backoff);
    } catch (error) {
      if (await this.endIfShardGone(error)) return;
      throw error;
    }
    if (iterator === undefined && !signal.aborted) throw new Error(`GetShardIterator returned no iterator for ${shardId}`);

    let emptyReadsInARow = 0;
    while (!signal.aborted && iterator) {
      await this.buffer.waitForRoom(signal);
      if (signal.aborted) return;
      await budget.acquireCall(streamName, shardId, signal);
      let response;
      try {
        const command = new GetRecordsCommand({ ShardIterator: iterator, Limit: retrieval.maxRecordsPerCall });
        response = await withRequestTimeout(
          'Kinesis GetRecords',
          this.options.requestTimeoutMs,
          (abortSignal) => kinesis.send(command, { abortSignal }),
          signal,
        );
      } catch (error) {
        if (signal.aborted) return;
        this.options.observer?.getRecords(outcomeOf(error));
        if (await this.endIfShardGone(error)) return;
        if (errorName(error) === 'ExpiredIteratorException') {
          logger.info({ shardId }, 'shard iterator expired; renewing it after the last record fetched');
          const resumeAt = this.resumePosition();
          if (resumeAt.type === 'AFTER_CHECKPOINT') this.userRecords.skipUpTo(resumeAt.checkpoint);
          iterator = await this.withRetry(() => this.getIterator(resumeAt), backoff);
          continue;
        }
        await this.pause(error, backoff);
        continue;
      }
      backoff.reset();
      this.options.observer?.getRecords('ok');
      this.caughtUp = false;

      const raw = response.Records ?? [];
      const { records, bytes } = this.userRecords.read(raw);
      if (bytes > 0) budget.recordBytes(streamName, shardId, bytes);
      if (raw.length > 0) this.lastFetchedSequence = raw[raw.length - 1]!.SequenceNumber;
      if (records.length > 0) {
        this.buffer.push({ type: 'records', records, millisBehindLatest: response.MillisBehindLatest, bytes });
      }

      iterator = response.NextShardIterator;
      if (!iterator) {
        this.buffer.push({ type: 'shard-end', childShardIds: childShardIdsOf(response.ChildShards) });
        this.answered();
        return;
      }
      // Caught up (the call came back short of its limit, and not behind the tip): wait before
      // the next call, as KCL does, so a steadily fed shard costs one call per interval instead
      // of a full call followed by an empty one.
      const caughtUp = raw.length < retrieval.maxRecordsPerCall && !((response.MillisBehindLatest ?? 0) > 0);
      this.caughtUp = caughtUp;
      this.answered();
      emptyReadsInARow = raw.length === 0 && caughtUp ? emptyReadsInARow + 1 : 0;
      if (caughtUp && retrieval.idleTimeBetweenReadsMs > 0) {
        const wake = (this.idleWake = new AbortController());
        await clock.sleep(idleWait(retrieval, emptyReadsInARow), AbortSignal.any([signal, wake.signal])).catch(() => undefined);
        this.idleWake = undefined;
      }
      if (emptyReadsInARow > 0) await this.options.idlePacer?.turn(signal);
    }
  }

  private async getIterator(position: StartingPosition): Promise<string | undefined> {
    const { kinesis, streamName, shardId } = this.options;
    const input: GetShardIteratorCommandInput = { StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' };
    switch (position.type) {
      case 'TRIM_HORIZON':
      case 'LATEST':
        input.ShardIteratorType = position.type;
        break;
      case 'AT_TIMESTAMP':
        input.ShardIteratorType = 'AT_TIMESTAMP';
        input.Timestamp = position.timestamp;
        break;
      case 'AFTER_CHECKPOINT':
        // AT, not AFTER: the checkpointed aggregate may still hold user records past the checkpoint.
        input.ShardIteratorType = 'AT_SEQUENCE_NUMBER';
        input.StartingSequenceNumber = position.checkpoint.sequenceNumber;
        break;
    }
    const { ShardIterator } = await withRequestTimeout(
      'Kinesis GetShardIterator',
      this.options.requestTimeoutMs,
      (abortSignal) => kinesis.send(new GetShardIteratorCommand(input), { abortSignal }),
      this.controller.signal,
    );
    return ShardIterator;
  }

  /** After a ResourceNotFoundException: ends the shard if it expired out of the stream (see {@link childrenIfShardGone}). */
  private async endIfShardGone(error: unknown): Promise<boolean> {
    const { kinesis, streamName, shardId, requestTimeoutMs, logger } = this.options;
    const check = { kinesis, streamName, shardId, requestTimeoutMs, logger, signal: this.controller.signal };
    const childShardIds = await childrenIfShardGone(error, { ...check, parentShardIds: this.options.parentShardIds ?? [] });
    if (!childShardIds) return false;
    this.buffer.push({ type: 'shard-end', childShardIds, expired: true });
    return true;
  }

  private resumePosition(): StartingPosition {
    return this.lastFetchedSequence === undefined
      ? this.options.start
      : // Everything up to the whole last aggregate was buffered already.
        { type: 'AFTER_CHECKPOINT', checkpoint: { sequenceNumber: this.lastFetchedSequence, subSequenceNumber: Number.MAX_SAFE_INTEGER } };
  }

  private async withRetry<T>(call: () => Promise<T>, backoff: Backoff): Promise<T> {
    for (;;) {
      try {
        return await call();
      } catch (error) {
        this.controller.signal.throwIfAborted();
        if (isPermanent(error)) throw error;
        await this.pause(error, backoff);
      }
    }
  }

  private async pause(error: unknown, backoff: Backoff): Promise<void> {
    const delayMs = backoff.next();
    const name = errorName(error);
    const log = isThrottling(error) ? this.options.logger.debug : this.options.logger.warn;
    log.call(
      this.options.logger,
      { shardId: this.options.shardId, err: error, delayMs, attempt: backoff.attempts },
      `${name}; retrying after backoff`,
    );
    await this.options.clock.sleep(delayMs, this.controller.signal).catch(() => undefined);
  }

  private answered(): void {
    for (const onAnswer of [...this.answerWaiters]) onAnswer();
  }
}

/** The wait after a caught-up call: the base wait, doubled for every empty call in a row after the first, up to the cap. */
function idleWait(retrieval: Required<RetrievalOptions>, emptyReadsInARow: number): number {
  const { idleTimeBetweenReadsMs, maxIdleTimeBetweenReadsMs } = retrieval;
  const doublings = Math.min(Math.max(0, emptyReadsInARow - 1), 30);
  return Math.min(Math.max(idleTimeBetweenReadsMs, maxIdleTimeBetweenReadsMs), idleTimeBetweenReadsMs * 2 ** doublings);
}

function outcomeOf(error: unknown): GetRecordsOutcome {
  return isThrottling(error) ? 'throttled' : errorName(error) === 'ExpiredIteratorException' ? 'expired-iterator' : 'error';
}
