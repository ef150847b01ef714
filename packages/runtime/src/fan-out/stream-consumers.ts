import {
  DeregisterStreamConsumerCommand,
  DescribeStreamConsumerCommand,
  RegisterStreamConsumerCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { withRequestTimeout, type Logger } from '@shoal/coordinator';
import { ShoalError, type ShoalErrorOptions } from '@shoal/processor-sdk';
import { Backoff } from '../backoff.js';
import type { Clock } from '../clock.js';
import { errorName, isPermanent } from '../consumer/kinesis-errors.js';
import { untilAborted } from './abortable.js';
import { listStreamConsumers, streamArnOf } from './stream-consumer-calls.js';

/** Kinesis allows this many consumers registered on one stream. */
export const MAX_CONSUMERS_PER_STREAM = 20;
/** RegisterStreamConsumer is limited to 5 calls a second per account: this process spaces its own. */
const REGISTER_SPACING_MS = 200;
/** A consumer is CREATING for a few seconds on AWS; give up after this long. */
const ACTIVE_TIMEOUT_MS = 120_000;
/** A stream's entry is dropped after this long without a caller… */
const UNUSED_AFTER_MS = 60 * 60_000;
/** …and the least recently asked about go beyond this many streams. */
const MAX_STREAMS = 256;

/** The stream holds the most consumers Kinesis allows, and this application's is not among them. */
export class StreamConsumerLimitError extends ShoalError {
  override readonly name = 'StreamConsumerLimitError';
  constructor(
    readonly streamName: string,
    readonly consumerName: string,
    readonly registered: readonly string[],
    options?: ShoalErrorOptions,
  ) {
    super(
      'STREAM_CONSUMER_LIMIT',
      `cannot register stream consumer ${consumerName} on stream ${streamName}: it already has ${registered.length} (${registered.join(', ')}), and Kinesis allows ${MAX_CONSUMERS_PER_STREAM}; deregister one (shoal fan-out deregister) or read this application by polling`,
      options,
    );
  }
}

export interface StreamConsumersOptions {
  readonly kinesis: KinesisClient;
  readonly consumerName: string;
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The application's registered stream consumer on each stream it reads by enhanced fan-out:
 * found, or registered when missing, and waited for until ACTIVE, once a stream. Idempotent
 * across a fleet: a worker that loses the race to register finds the winner's consumer.
 * Registrations from this process are spaced to Kinesis's 5 a second, and a register refused
 * while fewer than 20 consumers exist (too many CREATING at once, or the rate) is retried.
 */
export class StreamConsumers {
  /** stream → its consumer's ARN once ACTIVE, shared by every lease of the stream, and when it was last asked for. */
  private readonly arns = new Map<string, { readonly arn: Promise<string>; usedAt: number }>();
  private lastRegisterAt = Number.NEGATIVE_INFINITY;
  private registerQueue: Promise<void> = Promise.resolve();
  /** Aborts every registration in progress when the worker closes. */
  private readonly closed = new AbortController();

  constructor(private readonly options: StreamConsumersOptions) {}

  /**
   * The consumer's ARN on `streamName`, once it is ACTIVE. The registration is shared by every
   * caller and runs until it is done or the worker closes; `signal` only stops this caller's wait.
   * A failure is not remembered: the next call tries again.
   */
  consumerArn(streamName: string, signal?: AbortSignal): Promise<string> {
    const now = this.options.clock.monotonic();
    this.forgetUnused(now);
    let entry = this.arns.get(streamName);
    if (!entry) {
      const arn = this.ensureActive(streamName, this.closed.signal);
      entry = { arn, usedAt: now };
      this.arns.set(streamName, entry);
      arn.catch(() => {
        if (this.arns.get(streamName)?.arn === arn) this.arns.delete(streamName);
      });
    }
    entry.usedAt = now;
    return untilAborted(entry.arn, signal);
  }

  /**
   * The consumer was found missing (deregistered by hand, or its stream deleted and made again):
   * the next `consumerArn` looks it up, and registers it, again.
   */
  forget(streamName: string): void {
    this.arns.delete(streamName);
  }

  /** Stops every registration in progress; later calls fail. */
  close(): void {
    this.closed.abort(new Error('the worker closed'));
  }

  /** Streams no lease asked about for an hour (a pattern's streams come and go), or beyond the most kept: their entries go. */
  private forgetUnused(now: number): void {
    for (const [streamName, entry] of this.arns) if (now - entry.usedAt > UNUSED_AFTER_MS) this.arns.delete(streamName);
    if (this.arns.size < MAX_STREAMS) return;
    const byUse = [...this.arns].sort(([, a], [, b]) => a.usedAt - b.usedAt);
    for (const [streamName] of byUse.slice(0, this.arns.size - MAX_STREAMS + 1)) this.arns.delete(streamName);
  }

  private async ensureActive(streamName: string, signal: AbortSignal): Promise<string> {
    const { consumerName, clock, logger } = this.options;
    const backoff = new Backoff({ baseMs: 250, maxMs: 5_000 });
    const deadline = clock.monotonic() + ACTIVE_TIMEOUT_MS;
    let streamArn: string | undefined;
    for (;;) {
      let status: string | undefined;
      try {
        streamArn ??= await this.streamArn(streamName, signal);
        const described = await this.describe(streamArn, signal);
        if (described?.status === 'ACTIVE') return described.arn;
        status = described?.status;
        // CREATING: wait. DELETING: the name is free once the old consumer is gone; register then.
        if (described === undefined) await this.register(streamName, streamArn, signal);
      } catch (error) {
        // Throttled (every worker of a fleet starting at once asks), timed out or a server error: try again.
        if (signal.aborted || error instanceof StreamConsumerLimitError || isPermanent(error)) throw error;
        logger.warn({ streamName, consumerName, err: error }, 'could not look up or register the stream consumer; trying again');
      }
      if (clock.monotonic() >= deadline) {
        throw new ShoalError(
          'KINESIS',
          `stream consumer ${consumerName} on ${streamName} did not become ACTIVE within ${ACTIVE_TIMEOUT_MS} ms`,
          {
            retryable: true,
          },
        );
      }
      const delayMs = backoff.next();
      logger.debug({ streamName, consumerName, status, delayMs }, 'waiting for the stream consumer to become ACTIVE');
      await clock.sleep(delayMs, signal);
    }
  }

  private async register(streamName: string, streamArn: string, signal: AbortSignal): Promise<void> {
    const { consumerName, logger } = this.options;
    await this.spaced(signal);
    try {
      await this.timed(
        'RegisterStreamConsumer',
        (abortSignal) =>
          this.options.kinesis.send(new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumerName }), {
            abortSignal,
          }),
        signal,
      );
      logger.info({ streamName, consumerName }, 'registered the stream consumer');
    } catch (error) {
      // Another worker registered it first: the caller describes it again.
      if (errorName(error) === 'ResourceInUseException') return;
      if (errorName(error) !== 'LimitExceededException') throw error;
      const registered = await this.registeredNames(streamArn, signal);
      if (registered.includes(consumerName)) return;
      if (registered.length >= MAX_CONSUMERS_PER_STREAM)
        throw new StreamConsumerLimitError(streamName, consumerName, registered, { cause: error });
      // Too many CREATING at once, or the account's rate: the caller waits and tries again.
      logger.debug({ streamName, consumerName, err: error }, 'RegisterStreamConsumer was throttled; trying again');
    }
  }

  /** Resolves when this process may send its next RegisterStreamConsumer. */
  private spaced(signal: AbortSignal): Promise<void> {
    const { clock } = this.options;
    const turn = this.registerQueue.then(async () => {
      const waitMs = this.lastRegisterAt + REGISTER_SPACING_MS - clock.monotonic();
      if (waitMs > 0) await clock.sleep(waitMs, signal);
      this.lastRegisterAt = clock.monotonic();
    });
    this.registerQueue = turn.catch(() => undefined);
    return turn;
  }

  private async describe(streamArn: string, signal?: AbortSignal): Promise<{ arn: string; status: string } | undefined> {
    try {
      const { ConsumerDescription } = await this.timed(
        'DescribeStreamConsumer',
        (abortSignal) =>
          this.options.kinesis.send(new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: this.options.consumerName }), {
            abortSignal,
          }),
        signal,
      );
      return { arn: ConsumerDescription?.ConsumerARN ?? '', status: ConsumerDescription?.ConsumerStatus ?? 'CREATING' };
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }

  private async registeredNames(streamArn: string, signal?: AbortSignal): Promise<string[]> {
    const consumers = await this.timed(
      'ListStreamConsumers',
      (abortSignal) => listStreamConsumers(this.options.kinesis, streamArn, abortSignal),
      signal,
    );
    return consumers.map((consumer) => consumer.ConsumerName).filter((name): name is string => !!name);
  }

  private streamArn(streamName: string, signal?: AbortSignal): Promise<string> {
    return this.timed('DescribeStreamSummary', (abortSignal) => streamArnOf(this.options.kinesis, streamName, abortSignal), signal);
  }

  private timed<T>(operation: string, call: (abortSignal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRequestTimeout(`Kinesis ${operation}`, this.options.requestTimeoutMs, call, signal);
  }
}

/** Deregisters `consumerName` from `streamName`; resolves false when it was not registered. */
export async function deregisterStreamConsumer(kinesis: KinesisClient, streamName: string, consumerName: string): Promise<boolean> {
  const streamArn = await streamArnOf(kinesis, streamName);
  try {
    await kinesis.send(new DeregisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumerName }));
    return true;
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') return false;
    throw error;
  }
}
