import type { Logger } from '@shoal/coordinator';
import {
  LeaseLostError,
  compareExtendedSequenceNumbers,
  formatCheckpoint,
  type Checkpoint,
  type ExtendedSequenceNumber,
  type KinesisRecord,
  type ShardContext,
  type ShardRecordProcessor,
  type ShutdownRequestReason,
} from '@shoal/processor-sdk';
import { Backoff, type BackoffOptions } from '../backoff.js';
import type { Clock } from '../clock.js';
import type { FetchResult, StartingPosition } from './get-records-fetcher.js';
import type { LeaseCall, LeaseHold } from './lease-hold.js';
import type { ShardCheckpointer } from './shard-checkpointer.js';
import type { ShardObserver } from '../metrics/worker-observer.js';

/**
 * Why a shard consumer stopped, ranked as in KCL: a lost lease outranks the end of the shard,
 * which outranks a requested shutdown. Only `shard-end` and `requested` may checkpoint.
 */

/** How often a fenced consumer looks again whether it may go on. */
const FENCE_POLL_MS = 20;
export type ShardConsumerExit = 'lease-lost' | 'shard-end' | 'requested';

const RANK: Record<ShardConsumerExit, number> = { requested: 1, 'shard-end': 2, 'lease-lost': 3 };

/**
 * A processor call that threw after its lease's signal aborted: it stopped as it was told to,
 * whatever it threw (often the LeaseLostError of `throwIfInvalid()`, even once liveness is
 * confirmed again). Not the processor's failure, and not by itself a lost lease.
 */
class CallCutShort extends Error {
  constructor(
    readonly callback: string,
    override readonly cause: unknown,
  ) {
    super(`processor ${callback} stopped when its lease's signal aborted`);
    this.name = 'CallCutShort';
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function positionOf(record: KinesisRecord): ExtendedSequenceNumber {
  return { sequenceNumber: record.sequenceNumber, subSequenceNumber: record.subSequenceNumber };
}

function recordsAfter(records: readonly KinesisRecord[], checkpoint: Checkpoint): readonly KinesisRecord[] {
  if (checkpoint.type !== 'SEQUENCE') return records;
  return records.filter((record) => compareExtendedSequenceNumbers(record, checkpoint.position) > 0);
}

export type ShardConsumerEvent =
  | { readonly type: 'CONSUMER.PROCESSING' }
  | { readonly type: 'CONSUMER.BACKOFF'; readonly error: string; readonly delayMs: number }
  | { readonly type: 'CONSUMER.CHECKPOINTED'; readonly checkpoint: Checkpoint };

/** What the consumer reads from: a {@link GetRecordsFetcher} or a fake in tests. */
export interface RecordSource {
  start(): void;
  next(signal?: AbortSignal): Promise<FetchResult>;
  /** Reads a caught-up shard's tip now (see `GetRecordsFetcher.readTail`); optional. */
  readTail?(timeoutMs: number): Promise<FetchResult | undefined>;
  stop(): Promise<void>;
}

/**
 * How long a graceful drain waits for its read of a caught-up shard's tip: one GetRecords call,
 * far less than the poll interval the next owner would otherwise make those records wait.
 */
const TAIL_READ_TIMEOUT_MS = 1_000;

export interface ShardConsumerOptions {
  readonly context: ShardContext;
  readonly processor: ShardRecordProcessor;
  readonly checkpointer: ShardCheckpointer;
  readonly createSource: (start: StartingPosition) => RecordSource;
  /** This worker's hold on the lease: fenced while its liveness lapsed, stopped or lost for good. */
  readonly hold: LeaseHold;
  /** How long a processor call may go on after its signal aborted before it is reported as overrunning. */
  readonly abortGraceMs: number;
  readonly backoff: BackoffOptions;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly onEvent: (event: ShardConsumerEvent) => void;
  /** Called with the size of every batch the processor finished, for load reporting. */
  readonly onProcessed?: (count: number) => void;
  /** Counts batches, bytes, processing time, lag and processor failures. */
  readonly observer?: ShardObserver;
}

/**
 * Runs one shard lease: `initialize`, then every batch through `processRecords` strictly in
 * order, and finally exactly one of `shardEnded`, `shutdownRequested` or `leaseLost`.
 *
 * A batch whose `processRecords` throws is delivered again after a backoff, less the records
 * the processor checkpointed before it threw, so the checkpoint never passes records that were
 * not processed and checkpointed records are not repeated. A requested shutdown lets the batch in hand
 * finish; buffered records that were not delivered are left to the next owner. A shard that was
 * caught up is read once more at its tip first (one call, processed once, not retried), so the
 * records put since the last poll do not wait through the handoff for the next owner's first.
 *
 * Every processor call gets the lease it runs under (see `HeldLease`): its signal aborts when
 * the worker's liveness lapses or the lease is given up, and a call still running `abortGraceMs`
 * after that is logged as an error, since its side effects may overlap the next owner's.
 */
export class ShardConsumer {
  private exit: ShardConsumerExit | undefined;
  private aborted = false;
  private source: RecordSource | undefined;
  private requestReason: ShutdownRequestReason = 'worker-shutdown';
  private readonly stopping = new AbortController();
  private lastProcessed: ExtendedSequenceNumber | undefined;
  private childShardIds: readonly string[] = [];
  private readonly logger: Logger;

  constructor(private readonly options: ShardConsumerOptions) {
    this.logger = options.logger;
  }

  /**
   * Asks the consumer to stop. A higher-ranked reason replaces a lower one; the consumer
   * finishes the batch in hand first.
   */
  requestShutdown(exit: 'requested' | 'lease-lost', reason: ShutdownRequestReason = 'worker-shutdown'): void {
    if (exit === 'requested') this.requestReason = reason;
    this.raise(exit);
  }

  /**
   * Stops without further processor calls (the drain timed out, or the lease machine is gone):
   * the call in progress is told to stop through its signal, and `run()` settles once it has.
   */
  abort(): void {
    this.options.hold.stop('its consumer was stopped');
    this.aborted = true;
    this.stopping.abort();
    // A processor call that never returns must not keep the fetcher filling its buffer.
    void this.source?.stop();
  }

  async run(): Promise<ShardConsumerExit> {
    if (await this.initialize()) {
      this.options.onEvent({ type: 'CONSUMER.PROCESSING' });
      await this.consume();
    }
    return this.finish();
  }

  private async initialize(): Promise<boolean> {
    const { processor, context, checkpointer } = this.options;
    if (checkpointer.checkpointed.type === 'SHARD_END') {
      this.raise('shard-end');
      return false;
    }
    const backoff = new Backoff(this.options.backoff);
    while (!this.exit && !this.aborted) {
      try {
        await this.call('initialize', (scope) => processor.initialize?.({ ...context, ...scope, checkpoint: checkpointer.checkpointed }));
        return true;
      } catch (error) {
        await this.backOff(error, backoff, 'initialize');
      }
    }
    return false;
  }

  private async consume(): Promise<void> {
    const sourceBackoff = new Backoff(this.options.backoff);
    let source = (this.source = this.openSource());
    let inOrder = true;
    try {
      while (!this.exit && !this.aborted) {
        let result: FetchResult;
        try {
          result = await source.next(this.stopping.signal);
        } catch (error) {
          if (this.exit || this.aborted) break;
          // The fetcher gave up (e.g. the stream is gone): start over from what was processed.
          await source.stop();
          await this.backOff(error, sourceBackoff, 'GetRecords');
          source = this.source = this.openSource();
          continue;
        }
        if (sourceBackoff.attempts > 0) this.options.onEvent({ type: 'CONSUMER.PROCESSING' });
        sourceBackoff.reset();
        if (result.type === 'shard-end') {
          this.childShardIds = result.childShardIds;
          this.raise('shard-end');
          break;
        }
        inOrder = await this.deliver(result.records, result.millisBehindLatest);
        // Buffered batches resolve at once: let timers and I/O (liveness above all) run between
        // them, even when the processor never awaits anything real.
        await yieldToEventLoop();
      }
      // Only after a batch that was processed: records after a failed one would skip it.
      if (inOrder && this.exit === 'requested' && !this.aborted) await this.deliverTail(source);
    } finally {
      await source.stop();
    }
  }

  /**
   * A graceful drain's last read: the records at a caught-up shard's tip, processed once (a
   * failure leaves them to the next owner: `shutdownRequested` checkpoints only what was processed).
   */
  private async deliverTail(source: RecordSource): Promise<void> {
    const tail = await source.readTail?.(TAIL_READ_TIMEOUT_MS);
    // The lease may have been lost (or the drain cut short) while the read was out.
    if (tail?.type !== 'records' || this.exit !== 'requested' || this.aborted || this.options.hold.isFenced()) return;
    const { records, millisBehindLatest } = tail;
    try {
      await this.processOnce(records, positionOf(records[records.length - 1]!), millisBehindLatest);
      if (this.options.checkpointer.lost) this.raise('lease-lost');
    } catch (error) {
      if (this.leaseGone(error)) this.raise('lease-lost');
      else
        this.logger.warn(
          { err: error, records: records.length },
          'processRecords failed on the records read at the drain; left to the next owner',
        );
    }
  }

  /** One processRecords call on `records` (a batch, or what is left of it, ending at `last`), counted once it returns. */
  private async processOnce(
    records: readonly KinesisRecord[],
    last: ExtendedSequenceNumber,
    millisBehindLatest: number | undefined,
  ): Promise<void> {
    const { processor, context, checkpointer } = this.options;
    checkpointer.delivered(last);
    checkpointer.setDefaultTarget({ type: 'position', position: last });
    const startedAt = performance.now();
    await this.call('processRecords', (scope) =>
      processor.processRecords({ ...context, ...scope, records, checkpointer, millisBehindLatest }),
    );
    this.lastProcessed = last;
    this.options.onProcessed?.(records.length);
    this.options.observer?.batchProcessed(
      records.length,
      bytesOf(records),
      (performance.now() - startedAt) / 1_000,
      lagOf(records, millisBehindLatest),
    );
    try {
      this.options.observer?.recordsProcessed?.(records);
    } catch (error) {
      // A measure that fails must not deliver again a batch the processor handled.
      this.logger.warn({ err: error }, 'could not count the batch for the traffic windows');
    }
  }

  /** Delivers one batch until it is processed; resolves whether it was (false: stopped first). */
  private async deliver(batch: readonly KinesisRecord[], millisBehindLatest: number | undefined): Promise<boolean> {
    const { checkpointer } = this.options;
    const last = positionOf(batch[batch.length - 1]!);
    const backoff = new Backoff(this.options.backoff);
    let records = batch;
    while (!this.exit) {
      if (this.aborted) return false;
      if (this.options.hold.isFenced()) {
        // Liveness unconfirmed: hold the batch until it is confirmed again, or the lease is lost.
        await this.waitWhileFenced();
        continue;
      }
      try {
        await this.processOnce(records, last, millisBehindLatest);
        // The processor may have swallowed the LeaseLostError of a fenced checkpoint.
        if (checkpointer.lost) {
          this.raise('lease-lost');
          return false;
        }
        if (backoff.attempts > 0) this.options.onEvent({ type: 'CONSUMER.PROCESSING' });
        return true;
      } catch (error) {
        if (this.leaseGone(error)) {
          this.raise('lease-lost');
          return false;
        }
        // Told to stop (the drain timed out): whatever the call threw, it is over.
        if (this.aborted) return false;
        // Stopped by a lapse of liveness (now, or while the call ran): delivered again (less what
        // was checkpointed) once liveness is confirmed, without counting as the processor's failure.
        if (error instanceof CallCutShort || this.options.hold.isFenced()) {
          records = recordsAfter(records, checkpointer.checkpointed);
          if (records.length === 0) {
            this.lastProcessed = last;
            return true;
          }
          continue;
        }
        this.options.observer?.processorFailed();
        await this.backOff(error, backoff, 'processRecords', { records: records.length, firstSequenceNumber: records[0]?.sequenceNumber });
        // Deliver the batch again, less what the processor checkpointed before it failed.
        records = recordsAfter(records, checkpointer.checkpointed);
        if (records.length === 0) {
          this.lastProcessed = last;
          return true;
        }
      }
    }
    return false;
  }

  private async finish(): Promise<ShardConsumerExit> {
    const { checkpointer } = this.options;
    if (this.aborted) return this.exit ?? 'requested';
    if (this.exit === 'shard-end') await this.endShard();
    if (this.exit === 'requested') {
      checkpointer.setDefaultTarget({ type: 'position', position: this.lastProcessed });
      await this.callFinal('shutdownRequested', (processor, scope) =>
        processor.shutdownRequested({ ...this.options.context, ...scope, checkpointer, reason: this.requestReason }),
      );
    }
    if (checkpointer.lost) this.raise('lease-lost');
    if (this.exit === 'lease-lost') {
      await this.callFinal('leaseLost', (processor, scope) => processor.leaseLost?.({ ...this.options.context, ...scope }));
    }
    return this.exit ?? 'requested';
  }

  /** The processor must checkpoint SHARD_END before children may start; ask until it does. */
  private async endShard(): Promise<void> {
    const { checkpointer } = this.options;
    const backoff = new Backoff(this.options.backoff);
    while (this.exit === 'shard-end' && !this.aborted) {
      checkpointer.setDefaultTarget({ type: 'shard-end' });
      await this.callFinal('shardEnded', (processor, scope) =>
        processor.shardEnded({ ...this.options.context, ...scope, checkpointer, childShardIds: this.childShardIds }),
      );
      if (checkpointer.checkpointed.type === 'SHARD_END' || checkpointer.lost) return;
      await this.backOff(
        new Error('shardEnded returned without checkpointing SHARD_END; call checkpointer.checkpoint() in shardEnded'),
        backoff,
        'shardEnded',
      );
    }
  }

  private async callFinal(
    name: string,
    call: (processor: ShardRecordProcessor, scope: Pick<LeaseCall, 'lease' | 'signal'>) => Promise<void> | void,
  ): Promise<void> {
    try {
      await this.call(name, (scope) => call(this.options.processor, scope));
    } catch (error) {
      if (this.leaseGone(error)) this.raise('lease-lost');
      else if (error instanceof CallCutShort) this.logger.warn({ err: error.cause }, error.message);
      else this.logger.error({ err: error }, `processor ${name} threw`);
    }
  }

  /**
   * Runs one processor call under the lease. If its signal aborts while it runs, it has
   * `abortGraceMs` to settle before it is reported: past that, its side effects may overlap the
   * next owner's.
   */
  private async call<T>(name: string, run: (scope: Pick<LeaseCall, 'lease' | 'signal'>) => T | Promise<T>): Promise<T> {
    const scope = this.options.hold.openCall();
    const settled = new AbortController();
    const watch = () => void this.watchOverrun(name, settled.signal);
    scope.signal.addEventListener('abort', watch, { once: true });
    try {
      return await run({ lease: scope.lease, signal: scope.signal });
    } catch (error) {
      throw scope.signal.aborted ? new CallCutShort(name, error) : error;
    } finally {
      settled.abort();
      scope.signal.removeEventListener('abort', watch);
      scope.close();
    }
  }

  private async watchOverrun(name: string, settled: AbortSignal): Promise<void> {
    const { abortGraceMs, clock } = this.options;
    const aborted = clock.monotonic();
    await clock.sleep(abortGraceMs, settled).catch(() => undefined);
    if (settled.aborted) return;
    this.logger.error(
      { callback: name, abortGraceMs, overrunMs: Math.round(clock.monotonic() - aborted) },
      `processor ${name} is still running abortGraceMs after its lease's signal aborted: it ignores the signal, and its side effects may overlap the next owner's`,
    );
  }

  /**
   * Whether `error` means the lease is gone for good, as opposed to work stopped by a lapse of
   * liveness (which may be confirmed again) or by this consumer being stopped (the lease is still
   * this worker's, to be released).
   */
  private leaseGone(error: unknown): boolean {
    const { checkpointer, hold } = this.options;
    if (checkpointer.lost || hold.isLost) return true;
    return error instanceof LeaseLostError && !hold.isFenced() && !hold.isStopped;
  }

  private openSource(): RecordSource {
    const source = this.options.createSource(this.startingPosition());
    source.start();
    return source;
  }

  private startingPosition(): StartingPosition {
    if (this.lastProcessed) return { type: 'AFTER_CHECKPOINT', checkpoint: this.lastProcessed };
    const checkpoint = this.options.checkpointer.checkpointed;
    switch (checkpoint.type) {
      case 'SEQUENCE':
        return { type: 'AFTER_CHECKPOINT', checkpoint: checkpoint.position };
      case 'SHARD_END':
        throw new Error(`lease ${this.options.context.leaseKey} is at SHARD_END; there is nothing to read`);
      default:
        return checkpoint;
    }
  }

  private async backOff(error: unknown, backoff: Backoff, what: string, details: object = {}): Promise<void> {
    const delayMs = backoff.next();
    const message = error instanceof Error ? error.message : String(error);
    this.logger.error(
      { err: error, attempt: backoff.attempts, delayMs, checkpoint: formatCheckpoint(this.options.checkpointer.checkpointed), ...details },
      `${what} failed; retrying after backoff`,
    );
    this.options.onEvent({ type: 'CONSUMER.BACKOFF', error: message, delayMs });
    await this.options.clock.sleep(delayMs, this.stopping.signal).catch(() => undefined);
  }

  private async waitWhileFenced(): Promise<void> {
    this.logger.warn('liveness unconfirmed; holding the next batch until it is confirmed or the lease is lost');
    while (this.options.hold.isFenced() && this.exit === undefined && !this.aborted) {
      await this.options.clock.sleep(FENCE_POLL_MS, this.stopping.signal).catch(() => undefined);
    }
  }

  private raise(exit: ShardConsumerExit): void {
    if (exit === 'lease-lost') this.options.hold.lose('the lease was lost');
    if (this.exit === undefined || RANK[exit] > RANK[this.exit]) this.exit = exit;
    // A requested shutdown must not interrupt the end of a shard; anything else wakes the loop.
    if (this.exit !== 'shard-end') this.stopping.abort();
  }
}

function bytesOf(records: readonly KinesisRecord[]): number {
  let bytes = 0;
  for (const record of records) bytes += record.data.byteLength;
  return bytes;
}

/**
 * How far behind the shard's tip the batch was: GetRecords' MillisBehindLatest, or where that
 * says 0 (caught up, or an emulator that never says otherwise) the age of the batch's newest
 * record when it was delivered.
 */
function lagOf(records: readonly KinesisRecord[], millisBehindLatest: number | undefined): number {
  if (millisBehindLatest !== undefined && millisBehindLatest > 0) return millisBehindLatest;
  const newest = records[records.length - 1]?.approximateArrivalTimestamp.getTime() ?? 0;
  return newest > 0 ? Math.max(0, Date.now() - newest) : 0;
}
