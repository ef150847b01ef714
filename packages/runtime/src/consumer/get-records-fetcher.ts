import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type ChildShard,
  type GetShardIteratorCommandInput,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { listShards, withRequestTimeout, type Logger, type ShardInfo, type ShardReadBudget } from '@shoal/coordinator';
import { compareExtendedSequenceNumbers, deaggregateRecords, type ExtendedSequenceNumber, type KinesisRecord } from '@shoal/processor-sdk';
import { Backoff } from '../backoff.js';
import type { Clock } from '../clock.js';
import type { GetRecordsOutcome, ShardObserver } from '../metrics/worker-observer.js';
import type { IdleReadPacer } from './idle-read-pacer.js';
import type { RetrievalOptions } from './retrieval-options.js';

/** Where reading a shard starts. `AFTER_CHECKPOINT` resumes right after a stored checkpoint. */
export type StartingPosition =
  | { readonly type: 'TRIM_HORIZON' }
  | { readonly type: 'LATEST' }
  | { readonly type: 'AT_TIMESTAMP'; readonly timestamp: Date }
  | { readonly type: 'AFTER_CHECKPOINT'; readonly checkpoint: ExtendedSequenceNumber };

export type FetchResult =
  | {
      readonly type: 'records';
      readonly records: readonly KinesisRecord[];
      readonly millisBehindLatest: number | undefined;
      readonly bytes: number;
    }
  | {
      readonly type: 'shard-end';
      readonly childShardIds: readonly string[];
      /** The shard was gone from the stream (expired out of retention) rather than read to its end. */
      readonly expired?: boolean;
    };

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

/** Retryable by waiting: the shard (or KMS, or the account) is over its rate. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'KMSThrottlingException',
  'LimitExceededException',
  'ThrottlingException',
]);

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
  private readonly buffer: FetchResult[] = [];
  private bufferedRecords = 0;
  private bufferedBytes = 0;
  private readonly controller = new AbortController();
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private failure: unknown;
  /** The last Kinesis (aggregate) record fetched, to renew an expired iterator after it. */
  private lastFetchedSequence: string | undefined;
  /** User records at or before this position were delivered already (or precede the checkpoint). */
  private skipThrough: ExtendedSequenceNumber | undefined;
  /** The last GetRecords call came back caught up: the loop waits before the next. */
  private caughtUp = false;
  /** Cuts the wait between caught-up calls short (see `readTail`). */
  private idleWake: AbortController | undefined;
  /** Called after every GetRecords answer, whatever it held. */
  private readonly answerWaiters = new Set<() => void>();

  constructor(private readonly options: GetRecordsFetcherOptions) {
    this.skipThrough = options.start.type === 'AFTER_CHECKPOINT' ? options.start.checkpoint : undefined;
  }

  start(): void {
    this.loop ??= this.run()
      .catch((error: unknown) => {
        if (!this.controller.signal.aborted) this.failure = error;
        this.wakeConsumer?.();
      })
      // No answer will come any more: a tail read waiting for one ends now.
      .finally(() => this.answered());
  }

  /** The next batch in shard order; waits while nothing is buffered. */
  async next(signal?: AbortSignal): Promise<FetchResult> {
    for (;;) {
      const result = this.buffer.shift();
      if (result) {
        if (result.type === 'records') {
          this.bufferedRecords -= result.records.length;
          this.bufferedBytes -= result.bytes;
        }
        this.wakeProducer?.();
        return result;
      }
      if (this.failure) throw this.failure;
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = () => {
          this.wakeConsumer = undefined;
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.wakeConsumer = done;
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /**
   * For a graceful drain of a caught-up shard: reads the shard's tip now rather than at the next
   * poll, so the records put since the last call are processed by this owner, not left waiting
   * through the handoff. Resolves the records read (undefined when the shard was not caught up,
   * records are still buffered, or no answer came within `timeoutMs`).
   */
  async readTail(timeoutMs: number): Promise<FetchResult | undefined> {
    if (!this.caughtUp || this.buffer.length > 0 || this.failure || this.controller.signal.aborted) return undefined;
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
    const result = this.buffer[0];
    return result?.type === 'records' ? this.next() : undefined;
  }

  /** Stops fetching and drops whatever was buffered. */
  async stop(): Promise<void> {
    this.controller.abort();
    this.wakeProducer?.();
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
      await this.waitForRoom();
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
          if (resumeAt.type === 'AFTER_CHECKPOINT') this.skipThrough = resumeAt.checkpoint;
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
      let bytes = 0;
      for (const record of raw) bytes += record.Data?.byteLength ?? 0;
      if (bytes > 0) budget.recordBytes(streamName, shardId, bytes);
      if (raw.length > 0) this.lastFetchedSequence = raw[raw.length - 1]!.SequenceNumber;

      let records = deaggregateRecords(raw, {
        onCorruptAggregate: (error) => logger.warn({ shardId, err: error }, 'corrupt KPL aggregate delivered as one plain record'),
      });
      const skipThrough = this.skipThrough;
      if (skipThrough) {
        records = records.filter((record) => compareExtendedSequenceNumbers(record, skipThrough) > 0);
        // Positions only grow; once past the skip point, stop comparing.
        if (raw.length > 0) this.skipThrough = undefined;
      }
      if (records.length > 0) {
        this.push({ type: 'records', records, millisBehindLatest: response.MillisBehindLatest, bytes });
      }

      iterator = response.NextShardIterator;
      if (!iterator) {
        this.push({ type: 'shard-end', childShardIds: childIds(response.ChildShards) });
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

  /**
   * After a ResourceNotFoundException: if the stream answers but no longer lists this shard, the
   * shard expired out of the retention period (it must have been closed, or its children could
   * not exist). Nothing more can be read from it, so it ends here, as in KCL, and its children
   * may start. Anything else (the stream itself missing) stays an error.
   */
  private async endIfShardGone(error: unknown): Promise<boolean> {
    if (errorName(error) !== 'ResourceNotFoundException') return false;
    const { kinesis, streamName, shardId, requestTimeoutMs, logger } = this.options;
    let shards: ShardInfo[];
    try {
      shards = await listShards(kinesis, streamName, { signal: this.controller.signal, requestTimeoutMs });
    } catch {
      return false;
    }
    if (shards.some((shard) => shard.shardId === shardId)) return false;
    const childShardIds = shards.filter((shard) => shard.parentShardIds.includes(shardId)).map((shard) => shard.shardId);
    logger.warn(
      { shardId, parentShardIds: this.options.parentShardIds ?? [], childShardIds, err: error },
      'the stream no longer lists this shard: it expired out of the retention period before it was read to its end (its unread records are gone); treating it as ended so its children can start',
    );
    this.push({ type: 'shard-end', childShardIds, expired: true });
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
    const log = THROTTLING.has(name) ? this.options.logger.debug : this.options.logger.warn;
    log.call(
      this.options.logger,
      { shardId: this.options.shardId, err: error, delayMs, attempt: backoff.attempts },
      `${name}; retrying after backoff`,
    );
    await this.options.clock.sleep(delayMs, this.controller.signal).catch(() => undefined);
  }

  private push(result: FetchResult): void {
    this.buffer.push(result);
    if (result.type === 'records') {
      this.bufferedRecords += result.records.length;
      this.bufferedBytes += result.bytes;
    }
    this.wakeConsumer?.();
  }

  private answered(): void {
    for (const onAnswer of [...this.answerWaiters]) onAnswer();
  }

  private async waitForRoom(): Promise<void> {
    const { maxBufferedRecords, maxBufferedBytes } = this.options.retrieval;
    while (!this.controller.signal.aborted && (this.bufferedRecords >= maxBufferedRecords || this.bufferedBytes >= maxBufferedBytes)) {
      await new Promise<void>((resolve) => {
        this.wakeProducer = () => {
          this.wakeProducer = undefined;
          resolve();
        };
      });
    }
  }
}

/** The wait after a caught-up call: the base wait, doubled for every empty call in a row after the first, up to the cap. */
function idleWait(retrieval: Required<RetrievalOptions>, emptyReadsInARow: number): number {
  const { idleTimeBetweenReadsMs, maxIdleTimeBetweenReadsMs } = retrieval;
  const doublings = Math.min(Math.max(0, emptyReadsInARow - 1), 30);
  return Math.min(Math.max(idleTimeBetweenReadsMs, maxIdleTimeBetweenReadsMs), idleTimeBetweenReadsMs * 2 ** doublings);
}

function outcomeOf(error: unknown): GetRecordsOutcome {
  const name = errorName(error);
  return THROTTLING.has(name) ? 'throttled' : name === 'ExpiredIteratorException' ? 'expired-iterator' : 'error';
}

function childIds(children: ChildShard[] | undefined): string[] {
  return (children ?? []).map((child) => child.ShardId).filter((id): id is string => !!id);
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

/** Errors no retry can fix: the stream or shard does not exist, or access is denied. */
function isPermanent(error: unknown): boolean {
  const name = errorName(error);
  return name === 'ResourceNotFoundException' || name === 'AccessDeniedException' || name === 'InvalidArgumentException';
}
