import { PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { withRequestTimeout, type Logger } from '@shoal/coordinator';
import { Backoff, type BackoffOptions } from '../backoff.js';
import { sleep } from '../clock.js';
import { PUT_RECORDS_LIMITS, RecordTooLargeError, nextPutBatch, recordBytes, type PendingPut, type TargetRecord } from './put-batches.js';

export interface TargetWriterOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly backoff: BackoffOptions;
  /** A PutRecords call without an answer after this long is tried again (its records may then be written twice). */
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
}

/**
 * Writes records to one target stream with PutRecords, in calls within the API's limits that
 * hold at most one record per partition key (see `nextPutBatch`), so that the records a partial
 * failure rejected are tried again, with backoff, before any later record of their key is sent:
 * per key, records reach the target in the order given (a forwarded KPL aggregate counts for
 * every key it carries). Whole calls that fail (throttled, a timeout, an error) are tried again
 * the same way. Resolves once every record is written; rejects only when `signal` aborts (the
 * lease is gone: the next owner writes them again).
 */
export class TargetWriter {
  constructor(private readonly options: TargetWriterOptions) {}

  get streamName(): string {
    return this.options.streamName;
  }

  /** Throws, naming the record, when one can never be written (see `checkTargetRecords`). */
  check(records: readonly TargetRecord[]): void {
    checkTargetRecords(records, this.options.streamName);
  }

  async write(records: readonly PendingPut[], signal: AbortSignal): Promise<void> {
    this.check(records);
    const backoff = new Backoff(this.options.backoff);
    let pending = records;
    let failedCalls = 0;
    while (pending.length > 0) {
      signal.throwIfAborted();
      const { batch, rest } = nextPutBatch(pending);
      // Checked records always fit: an empty call with records left would spin.
      if (batch.length === 0)
        throw new Error(`no PutRecords call could be made of ${pending.length} records for ${this.options.streamName}`);
      const rejected = await this.put(batch, signal);
      // What was rejected goes first again: nothing later of its keys was in this call.
      pending = [...rejected, ...rest];
      if (rejected.length === 0) {
        backoff.reset();
        continue;
      }
      const delayMs = backoff.next();
      failedCalls += 1;
      // Throttling now and then is normal; a target that keeps refusing is worth a warning.
      const log = failedCalls % WARN_EVERY_FAILED_CALLS === 0 ? this.options.logger.warn : this.options.logger.debug;
      log.call(
        this.options.logger,
        { streamName: this.options.streamName, rejected: rejected.length, of: batch.length, delayMs, failedCalls },
        'PutRecords rejected records; trying them again after backoff',
      );
      await sleep(delayMs, signal);
    }
  }

  /** One PutRecords call; resolves the records it did not write (all of them when the call failed). */
  private async put(batch: readonly PendingPut[], signal: AbortSignal): Promise<readonly PendingPut[]> {
    const entries: PutRecordsRequestEntry[] = batch.map((record) => ({
      Data: record.data,
      PartitionKey: record.partitionKey,
      ...(record.explicitHashKey === undefined ? {} : { ExplicitHashKey: record.explicitHashKey }),
    }));
    try {
      // A lost lease ends the wait at once, whether or not the client honours the abort.
      const output = await abortable(
        withRequestTimeout(
          'Kinesis PutRecords',
          this.options.requestTimeoutMs,
          (abortSignal) =>
            this.options.kinesis.send(new PutRecordsCommand({ StreamName: this.options.streamName, Records: entries }), { abortSignal }),
          signal,
        ),
        signal,
      );
      if (!output.FailedRecordCount) return [];
      // An answer that does not say which records failed: all of them again (twice beats never).
      if (output.Records?.length !== batch.length) return batch;
      return batch.filter((_, index) => output.Records![index]!.ErrorCode !== undefined);
    } catch (error) {
      signal.throwIfAborted();
      // No retry mends a missing stream, a refused permission or a malformed request.
      if (error instanceof Error && PERMANENT.has(error.name)) throw new TargetWriteError(this.options.streamName, error);
      this.options.logger.debug(
        { err: error, streamName: this.options.streamName, records: batch.length },
        'PutRecords failed; trying again',
      );
      return batch;
    }
  }
}

/** A failed call is logged as a warning this often (the rest at debug level). */
const WARN_EVERY_FAILED_CALLS = 10;

/** Errors of PutRecords that no retry can fix. */
const PERMANENT = new Set([
  'ResourceNotFoundException',
  'ValidationException',
  'InvalidArgumentException',
  'AccessDeniedException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSNotFoundException',
  'KMSInvalidStateException',
]);

/** A target refused a write for good (the stream is missing, access is denied, a record is invalid). */
export class TargetWriteError extends Error {
  override readonly name = 'TargetWriteError';
  constructor(
    readonly streamName: string,
    cause: Error,
  ) {
    super(`cannot write to ${streamName}: ${cause.name}: ${cause.message}`, { cause });
  }
}

export class InvalidTargetRecordError extends Error {
  override readonly name = 'InvalidTargetRecordError';
}

/**
 * Throws, naming the record, unless every record can be written: data as bytes, a partition key
 * of 1 to 256 characters, and at most 1 MiB with its key.
 */
export function checkTargetRecords(records: readonly TargetRecord[], streamName: string): void {
  for (const record of records) {
    if (!(record.data instanceof Uint8Array)) {
      throw new InvalidTargetRecordError(
        `a record for ${streamName} (partition key ${String(record.partitionKey)}) has data that is not bytes (a Uint8Array)`,
      );
    }
    if (typeof record.partitionKey !== 'string' || record.partitionKey.length < 1 || record.partitionKey.length > 256) {
      throw new InvalidTargetRecordError(
        `a record for ${streamName} has a partition key that is not 1 to 256 characters: ${JSON.stringify(record.partitionKey)}`,
      );
    }
    if (recordBytes(record) > PUT_RECORDS_LIMITS.recordBytes) {
      throw new RecordTooLargeError(
        `a record of ${recordBytes(record)} bytes (partition key ${record.partitionKey}) is over the 1 MiB PutRecords allows for ${streamName}`,
      );
    }
  }
}

/** `promise`, or a rejection with `signal`'s reason as soon as it aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
