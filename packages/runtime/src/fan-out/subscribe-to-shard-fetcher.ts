import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  SubscribeToShardCommand,
  type KinesisClient,
  type StartingPosition as KinesisStartingPosition,
  type SubscribeToShardEvent,
} from '@aws-sdk/client-kinesis';
import { withRequestTimeout, type Logger, type ShardReadBudget } from '@shoal/coordinator';
import { Backoff } from '../backoff.js';
import type { Clock } from '../clock.js';
import { FetchBuffer } from '../consumer/fetch-buffer.js';
import type { FetchResult, StartingPosition } from '../consumer/fetch-result.js';
import { errorName, isThrottling } from '../consumer/kinesis-errors.js';
import type { RetrievalOptions } from '../consumer/retrieval-options.js';
import type { RecordSource } from '../consumer/shard-consumer.js';
import { childShardIdsOf, childrenIfShardGone } from '../consumer/shard-gone.js';
import { UserRecordReader } from '../consumer/user-record-reader.js';
import type { ClosedShardWatch } from './closed-shard-watch.js';
import type { EnhancedFanOutOptions } from './fan-out-options.js';
import { StreamConsumerLimitError } from './stream-consumers.js';

export type SubscriptionTimings = Required<
  Pick<EnhancedFanOutOptions, 'renewSubscriptionAfterMs' | 'maxEventGapMs' | 'shardEndCheckIntervalMs'>
>;

export interface SubscribeToShardFetcherOptions {
  /** SubscribeToShard goes through this client (HTTP/2 for AWS). */
  readonly subscribeClient: KinesisClient;
  /** GetShardIterator, GetRecords and ListShards, to read a closed shard's end, go through this one. */
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly shardId: string;
  readonly start: StartingPosition;
  /** The registered stream consumer's ARN on the stream, once it is ACTIVE. */
  readonly consumerArn: (signal: AbortSignal) => Promise<string>;
  /** SubscribeToShard found the consumer missing: the next `consumerArn` must look again. */
  readonly consumerMissing: () => void;
  readonly timings: SubscriptionTimings;
  /** Buffer limits and retry backoff, as for polling. */
  readonly retrieval: Required<RetrievalOptions>;
  /** Where an idle subscription looks whether its shard was closed; none: only the events tell. */
  readonly closedShards?: ClosedShardWatch;
  /** The shared GetRecords budget, spent only on reading a closed shard's end. */
  readonly budget: ShardReadBudget;
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** Node's timers wait at most this long; a longer one would fire at once. */
const TIMER_MAX_MS = 2_147_483_647;

/** Why a subscription was ended from this side. */
type Renewal = 'renew' | 'event-gap';

class SubscriptionEnded extends Error {
  constructor(readonly why: Renewal) {
    super(`subscription ended: ${why}`);
  }
}

/**
 * Reads one shard by enhanced fan-out: SubscribeToShard pushes the shard's records to the worker
 * as events, which fill the same bounded buffer the shard consumer drains as with polling (a full
 * buffer stops reading the event stream, and the HTTP flow control holds the server back).
 *
 * A subscription lasts at most 5 minutes: it is renewed after `renewSubscriptionAfterMs`, and
 * made again when it ends, fails, or goes `maxEventGapMs` without an event, always from the last
 * continuation sequence number, so nothing is skipped or delivered twice. The request is aborted
 * whenever a subscription ends, since a server keeps an unclosed one active and refuses the
 * next (ResourceInUseException, also expected within 5 s of the last subscribe, and retried).
 * The shard ends on an event without a continuation (with its child shards); on a server that
 * never sends one, an idle subscription whose shard the stream lists as closed reads the shard's
 * end with GetRecords.
 */
export class SubscribeToShardFetcher implements RecordSource {
  private readonly buffer: FetchBuffer;
  private readonly controller = new AbortController();
  private readonly userRecords: UserRecordReader;
  private loop: Promise<void> | undefined;
  /** Where the next subscription starts: the last event's continuation, or the start. */
  private continuation: string | undefined;
  private ended = false;
  /** Events the subscription in progress delivered. */
  private eventsInSubscription = 0;
  private lastEndCheckAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: SubscribeToShardFetcherOptions) {
    const { retrieval, shardId, logger } = options;
    this.buffer = new FetchBuffer({ maxRecords: retrieval.maxBufferedRecords, maxBytes: retrieval.maxBufferedBytes });
    this.userRecords = new UserRecordReader(options.start, (error) =>
      logger.warn({ shardId, err: error }, 'corrupt KPL aggregate delivered as one plain record'),
    );
  }

  start(): void {
    this.loop ??= this.run().catch((error: unknown) => {
      if (!this.controller.signal.aborted) this.buffer.fail(error);
    });
  }

  next(signal?: AbortSignal): Promise<FetchResult> {
    return this.buffer.next(signal);
  }

  /** Stops reading, ends the subscription in progress, and drops whatever was buffered. */
  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { retrieval, logger, shardId, clock } = this.options;
    const signal = this.controller.signal;
    const backoff = new Backoff({ baseMs: retrieval.retryBaseMs, maxMs: retrieval.retryMaxMs });
    while (!signal.aborted && !this.ended) {
      // A processor that fell behind holds the next subscription back too: the buffer stays bounded.
      await this.buffer.waitForRoom(signal);
      if (signal.aborted) return;
      const subscription = new AbortController();
      this.eventsInSubscription = 0;
      try {
        const consumerArn = await this.options.consumerArn(signal);
        await this.subscribeOnce(consumerArn, subscription);
        if (this.eventsInSubscription > 0) {
          backoff.reset();
          continue;
        }
        // Ended by the server before any event: not a reason to subscribe again at once.
        await clock.sleep(backoff.next(), signal).catch(() => undefined);
      } catch (error) {
        if (signal.aborted) return;
        // However it ended, a subscription that delivered shows the shard can be read: start the backoff over.
        if (this.eventsInSubscription > 0) backoff.reset();
        if (error instanceof SubscriptionEnded) {
          if (error.why === 'event-gap') {
            logger.warn(
              { shardId, maxEventGapMs: this.options.timings.maxEventGapMs },
              'no event from the subscription for too long; subscribing again',
            );
          }
          continue;
        }
        if (await this.endIfShardGone(error)) return;
        // The shard is there, so the consumer is not (deregistered by hand): find or register it again.
        if (errorName(error) === 'ResourceNotFoundException') this.options.consumerMissing();
        const delayMs = error instanceof StreamConsumerLimitError ? retrieval.retryMaxMs : backoff.next();
        // Within 5 s of the last subscribe, or while the server still holds an ended one: expected.
        const expected = errorName(error) === 'ResourceInUseException' || isThrottling(error);
        (error instanceof StreamConsumerLimitError ? logger.error : expected ? logger.debug : logger.warn).call(
          logger,
          { shardId, err: error, delayMs, attempt: backoff.attempts },
          `SubscribeToShard: ${errorName(error)}; subscribing again after backoff`,
        );
        await clock.sleep(delayMs, signal).catch(() => undefined);
      } finally {
        subscription.abort();
      }
    }
  }

  /** One subscription, read until it ends (counting its events in `eventsInSubscription`); throws how it ended otherwise. */
  private async subscribeOnce(consumerArn: string, subscription: AbortController): Promise<void> {
    const { subscribeClient, shardId, timings, requestTimeoutMs } = this.options;
    const stop = AbortSignal.any([this.controller.signal, subscription.signal]);
    const command = new SubscribeToShardCommand({ ConsumerARN: consumerArn, ShardId: shardId, StartingPosition: this.startingPosition() });
    const response = await withRequestTimeout(
      'Kinesis SubscribeToShard',
      requestTimeoutMs,
      (abortSignal) => subscribeClient.send(command, { abortSignal: AbortSignal.any([abortSignal, stop]) }),
      stop,
    );
    const stream = response.EventStream;
    if (!stream) throw new Error('SubscribeToShard returned no event stream');

    let ending: Renewal | undefined;
    const end = (why: Renewal) => {
      ending ??= why;
      subscription.abort(new SubscriptionEnded(why));
    };
    const renewTimer = setTimeout(() => end('renew'), Math.min(timings.renewSubscriptionAfterMs, TIMER_MAX_MS));
    const gapMs = Math.min(timings.maxEventGapMs, TIMER_MAX_MS);
    let gapTimer = setTimeout(() => end('event-gap'), gapMs);
    try {
      for await (const event of stream) {
        clearTimeout(gapTimer);
        if (event.SubscribeToShardEvent) {
          this.eventsInSubscription += 1;
          if (await this.deliver(event.SubscribeToShardEvent)) return;
        }
        // Waiting for room is the consumer's pace, not the subscription's silence.
        await this.buffer.waitForRoom(stop);
        if (ending || this.controller.signal.aborted) break;
        gapTimer = setTimeout(() => end('event-gap'), gapMs);
      }
    } catch (error) {
      if (ending) throw new SubscriptionEnded(ending);
      throw error;
    } finally {
      clearTimeout(renewTimer);
      clearTimeout(gapTimer);
    }
    if (ending) throw new SubscriptionEnded(ending);
  }

  /** Buffers an event's records; resolves true when the shard ended with it. */
  private async deliver(event: SubscribeToShardEvent): Promise<boolean> {
    const raw = event.Records ?? [];
    const { records, bytes } = this.userRecords.read(raw);
    if (records.length > 0) this.buffer.push({ type: 'records', records, millisBehindLatest: event.MillisBehindLatest, bytes });
    if (!event.ContinuationSequenceNumber) {
      this.endShard(childShardIdsOf(event.ChildShards));
      return true;
    }
    this.continuation = event.ContinuationSequenceNumber;
    const idle = raw.length === 0 && !((event.MillisBehindLatest ?? 0) > 0);
    return idle && (await this.endIfClosed());
  }

  /**
   * An idle subscription on a shard the stream lists as closed: reads after the continuation
   * with GetRecords, which answers the shard's last records and no next iterator at its end.
   */
  private async endIfClosed(): Promise<boolean> {
    const { closedShards, timings, streamName, shardId, clock, kinesis, budget, requestTimeoutMs } = this.options;
    if (!closedShards || timings.shardEndCheckIntervalMs <= 0 || this.continuation === undefined) return false;
    const now = clock.monotonic();
    if (now - this.lastEndCheckAt < timings.shardEndCheckIntervalMs) return false;
    this.lastEndCheckAt = now;
    const signal = this.controller.signal;
    if (!(await closedShards.isClosed(streamName, shardId, signal))) return false;
    const { ShardIterator } = await withRequestTimeout(
      'Kinesis GetShardIterator',
      requestTimeoutMs,
      (abortSignal) =>
        kinesis.send(
          new GetShardIteratorCommand({
            StreamName: streamName,
            ShardId: shardId,
            ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
            StartingSequenceNumber: this.continuation,
          }),
          { abortSignal },
        ),
      signal,
    );
    if (!ShardIterator) return false;
    await budget.acquireCall(streamName, shardId, signal);
    const response = await withRequestTimeout(
      'Kinesis GetRecords',
      requestTimeoutMs,
      (abortSignal) => kinesis.send(new GetRecordsCommand({ ShardIterator }), { abortSignal }),
      signal,
    );
    // Records still to come and a next iterator: the subscription delivers them.
    if (response.NextShardIterator) return false;
    const { records, bytes } = this.userRecords.read(response.Records ?? []);
    if (bytes > 0) budget.recordBytes(streamName, shardId, bytes);
    if (records.length > 0) this.buffer.push({ type: 'records', records, millisBehindLatest: 0, bytes });
    this.options.logger.info({ shardId }, 'the closed shard was read to its end');
    this.endShard(childShardIdsOf(response.ChildShards));
    return true;
  }

  private endShard(childShardIds: readonly string[]): void {
    this.ended = true;
    this.buffer.push({ type: 'shard-end', childShardIds });
  }

  /** After a ResourceNotFoundException: ends the shard if it expired out of the stream (see {@link childrenIfShardGone}). */
  private async endIfShardGone(error: unknown): Promise<boolean> {
    const { kinesis, streamName, shardId, requestTimeoutMs, logger } = this.options;
    const check = { kinesis, streamName, shardId, requestTimeoutMs, logger, signal: this.controller.signal };
    const childShardIds = await childrenIfShardGone(error, check);
    if (!childShardIds) return false;
    this.ended = true;
    this.buffer.push({ type: 'shard-end', childShardIds, expired: true });
    return true;
  }

  private startingPosition(): KinesisStartingPosition {
    if (this.continuation !== undefined) return { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: this.continuation };
    const start = this.options.start;
    switch (start.type) {
      case 'TRIM_HORIZON':
      case 'LATEST':
        return { Type: start.type };
      case 'AT_TIMESTAMP':
        return { Type: 'AT_TIMESTAMP', Timestamp: start.timestamp };
      case 'AFTER_CHECKPOINT':
        // AT, not AFTER: the checkpointed aggregate may still hold user records past the checkpoint.
        return { Type: 'AT_SEQUENCE_NUMBER', SequenceNumber: start.checkpoint.sequenceNumber };
    }
  }
}
