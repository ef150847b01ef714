import { PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { withRequestTimeout, type Logger } from '@shoal/coordinator';
import { Backoff, type BackoffOptions } from '../backoff.js';
import { sleep } from '../clock.js';
import { PUT_RECORDS_LIMITS, RecordTooLargeError, nextPutBatch, recordBytes, type TargetRecord } from './put-batches.js';

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
 * per key, records reach the target in the order given. Whole calls that fail (throttled, a
 * timeout, an error) are tried again the same way. Resolves once every record is written;
 * rejects only when `signal` aborts (the lease is gone: the next owner writes them again).
 */
export class TargetWriter {
  constructor(private readonly options: TargetWriterOptions) {}

  get streamName(): string {
    return this.options.streamName;
  }

  async write(records: readonly TargetRecord[], signal: AbortSignal): Promise<void> {
    for (const record of records) {
      if (recordBytes(record) > PUT_RECORDS_LIMITS.recordBytes) {
        throw new RecordTooLargeError(
          `a record of ${recordBytes(record)} bytes (partition key ${record.partitionKey}) is over the 1 MiB PutRecords allows for ${this.options.streamName}`,
        );
      }
    }
    const backoff = new Backoff(this.options.backoff);
    let pending = records;
    while (pending.length > 0) {
      signal.throwIfAborted();
      const { batch, rest } = nextPutBatch(pending);
      const rejected = await this.put(batch, signal);
      // What was rejected goes first again: nothing later of its keys was in this call.
      pending = [...rejected, ...rest];
      if (rejected.length === 0) {
        backoff.reset();
        continue;
      }
      const delayMs = backoff.next();
      this.options.logger.debug(
        { streamName: this.options.streamName, rejected: rejected.length, of: batch.length, delayMs },
        'PutRecords rejected records; trying them again after backoff',
      );
      await sleep(delayMs, signal);
    }
  }

  /** One PutRecords call; resolves the records it did not write (all of them when the call failed). */
  private async put(batch: readonly TargetRecord[], signal: AbortSignal): Promise<readonly TargetRecord[]> {
    const entries: PutRecordsRequestEntry[] = batch.map((record) => ({
      Data: record.data,
      PartitionKey: record.partitionKey,
      ...(record.explicitHashKey === undefined ? {} : { ExplicitHashKey: record.explicitHashKey }),
    }));
    try {
      const output = await withRequestTimeout(
        'Kinesis PutRecords',
        this.options.requestTimeoutMs,
        (abortSignal) =>
          this.options.kinesis.send(new PutRecordsCommand({ StreamName: this.options.streamName, Records: entries }), { abortSignal }),
        signal,
      );
      if (!output.FailedRecordCount) return [];
      // An answer that does not say which records failed: all of them again (twice beats never).
      if (output.Records?.length !== batch.length) return batch;
      return batch.filter((_, index) => output.Records![index]!.ErrorCode !== undefined);
    } catch (error) {
      signal.throwIfAborted();
      this.options.logger.debug(
        { err: error, streamName: this.options.streamName, records: batch.length },
        'PutRecords failed; trying again',
      );
      return batch;
    }
  }
}
