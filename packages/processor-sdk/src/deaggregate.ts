import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { InvalidArgumentError, ShoalError, type ShoalErrorOptions } from './errors.js';
import type { KinesisRecord, KplAggregate } from './kinesis-record.js';
import { assertSequenceNumber } from './sequence-number.js';

/**
 * A record as GetRecords returns it: structurally the AWS SDK v3 `_Record` from
 * `@aws-sdk/client-kinesis`, so an SDK response's `Records` can be passed as they are.
 */
export interface GetRecordsRecord {
  readonly Data?: Uint8Array | undefined;
  /** Absent for records an `AUTO`-distribution stream received without a partition key. */
  readonly PartitionKey?: string | undefined;
  readonly SequenceNumber?: string | undefined;
  readonly ApproximateArrivalTimestamp?: Date | undefined;
  readonly EncryptionType?: string | undefined;
}

export interface DeaggregateOptions {
  /**
   * Told about a record that starts with the KPL magic bytes but is not a valid aggregate
   * (checksum mismatch, truncated, undecodable). The record is still delivered, whole, as one
   * plain record; throwing here aborts the call instead.
   */
  readonly onCorruptAggregate?: ((error: unknown, record: GetRecordsRecord) => void) | undefined;
}

/**
 * A record carried the KPL magic bytes but was not a valid aggregate. Only ever reported
 * through {@link DeaggregateOptions.onCorruptAggregate}, never thrown by de-aggregation.
 */
export class CorruptAggregateError extends ShoalError {
  override readonly name: string = 'CorruptAggregateError';
  /** The Kinesis sequence number of the corrupt record. */
  readonly sequenceNumber: string;

  constructor(sequenceNumber: string, message: string, options?: ShoalErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
    this.sequenceNumber = sequenceNumber;
  }
}

// The aggregation format: https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md
const KPL_MAGIC = [0xf3, 0x89, 0x9a, 0xc2] as const;
const MD5_LENGTH = 16;

/** The decoded protobuf `AggregatedRecord`; see `aws-kinesis-agg/lib/kpl.json`. */
interface AggregatedRecordMessage {
  readonly partition_key_table: readonly string[];
  readonly explicit_hash_key_table: readonly string[];
  readonly records: readonly UserRecordMessage[];
}

interface UserRecordMessage {
  /** A `Long` from protobufjs, or a number when the `long` package is absent. */
  readonly partition_key_index: unknown;
  readonly explicit_hash_key_index?: unknown;
  readonly data: Uint8Array;
}

interface KplCommonModule {
  readonly AggregatedRecord: { decode(bytes: Uint8Array): AggregatedRecordMessage };
}

// Only the protobuf model is taken from aws-kinesis-agg. Its `deaggregate` round-trips every
// payload through base64, logs to the console in debug mode, and reads the explicit hash key
// index off the message prototype, so a record without one inherits the table's first entry.
const { AggregatedRecord } = createRequire(import.meta.url)('aws-kinesis-agg/lib/common.js') as KplCommonModule;

/**
 * Turns one GetRecords record into the user records it carries.
 *
 * - A record without the KPL magic prefix is returned as one record: `subSequenceNumber` 0,
 *   `aggregated` false, and `data` the very `Data` array (not a copy).
 * - A KPL aggregate yields one record per user record, in order: each has the aggregate's
 *   sequence number and arrival time, `subSequenceNumber` its index in the aggregate, its own
 *   partition key, explicit hash key (when the producer set one) and data, and `aggregated`
 *   true, and `aggregate` the aggregate itself (its `Data` and partition key, shared by all of
 *   them). Their `data` may share memory with the aggregate's `Data`. A valid aggregate holding
 *   no user records yields none, as in the Java KCL.
 * - A record that has the magic prefix but a wrong MD5 checksum, a truncated body, a body that
 *   does not decode, or a table index out of range is delivered whole as one plain record, as
 *   the Java KCL does, and reported to `onCorruptAggregate` with a {@link CorruptAggregateError}.
 *
 * A missing `ApproximateArrivalTimestamp` becomes `new Date(0)`, never the time of reading:
 * an unknown arrival time must not look recent. A missing `PartitionKey` becomes `''`.
 *
 * @throws {@link InvalidArgumentError} when `SequenceNumber` is not a decimal sequence number or
 * `Data` is missing; Kinesis always returns both.
 */
export function deaggregateRecord(record: GetRecordsRecord, options: DeaggregateOptions = {}): KinesisRecord[] {
  const plain = toPlainRecord(record);
  return hasKplMagic(plain.data) ? userRecordsOf(plain, record, options) : [plain];
}

/**
 * {@link deaggregateRecord} applied to each record of a GetRecords response, flattened in order.
 *
 * @throws {@link InvalidArgumentError} as {@link deaggregateRecord} does.
 */
export function deaggregateRecords(records: readonly GetRecordsRecord[], options: DeaggregateOptions = {}): KinesisRecord[] {
  // On the path of every record read: no array per plain record.
  const result: KinesisRecord[] = [];
  for (const record of records) {
    const plain = toPlainRecord(record);
    if (hasKplMagic(plain.data)) result.push(...userRecordsOf(plain, record, options));
    else result.push(plain);
  }
  return result;
}

/** The user records of a record with the KPL magic prefix: itself, whole, when it is not a valid aggregate. */
function userRecordsOf(plain: KinesisRecord, record: GetRecordsRecord, options: DeaggregateOptions): KinesisRecord[] {
  try {
    return decodeAggregate(plain);
  } catch (error) {
    options.onCorruptAggregate?.(error, record);
    return [plain];
  }
}

function toPlainRecord(record: GetRecordsRecord): KinesisRecord {
  const sequenceNumber = record.SequenceNumber;
  if (typeof sequenceNumber !== 'string') {
    throw new InvalidArgumentError(`record SequenceNumber must be a string, got ${String(sequenceNumber)}`);
  }
  assertSequenceNumber(sequenceNumber, 'record SequenceNumber');
  if (!(record.Data instanceof Uint8Array)) {
    throw new InvalidArgumentError(`record ${sequenceNumber} has no Data (got ${String(record.Data)})`);
  }
  const plain = {
    data: record.Data,
    partitionKey: record.PartitionKey ?? '',
    sequenceNumber,
    subSequenceNumber: 0,
    approximateArrivalTimestamp: record.ApproximateArrivalTimestamp ?? new Date(0),
    aggregated: false,
  };
  return record.EncryptionType === undefined ? plain : { ...plain, encryptionType: record.EncryptionType };
}

function hasKplMagic(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === KPL_MAGIC[0] && data[1] === KPL_MAGIC[1] && data[2] === KPL_MAGIC[2] && data[3] === KPL_MAGIC[3];
}

function decodeAggregate(enclosing: KinesisRecord): KinesisRecord[] {
  const { sequenceNumber } = enclosing;
  const bytes = Buffer.from(enclosing.data.buffer, enclosing.data.byteOffset, enclosing.data.byteLength);
  if (bytes.length < KPL_MAGIC.length + MD5_LENGTH) {
    throw new CorruptAggregateError(
      sequenceNumber,
      `KPL aggregate ${sequenceNumber} is ${bytes.length} bytes, too short to hold its checksum`,
    );
  }
  const body = bytes.subarray(KPL_MAGIC.length, bytes.length - MD5_LENGTH);
  const checksum = bytes.subarray(bytes.length - MD5_LENGTH);
  if (!createHash('md5').update(body).digest().equals(checksum)) {
    throw new CorruptAggregateError(sequenceNumber, `KPL aggregate ${sequenceNumber} fails its MD5 checksum`);
  }

  let message: AggregatedRecordMessage;
  try {
    message = AggregatedRecord.decode(body);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CorruptAggregateError(sequenceNumber, `KPL aggregate ${sequenceNumber} does not decode: ${reason}`, {
      cause: error,
    });
  }

  // One object for all of the aggregate's user records; its data is the bytes already read.
  const aggregate: KplAggregate = {
    data: enclosing.data,
    partitionKey: enclosing.partitionKey,
    userRecordCount: message.records.length,
  };
  return message.records.map((userRecord, subSequenceNumber) => {
    const where = { sequenceNumber, subSequenceNumber };
    const partitionKeyIndex = userRecord.partition_key_index;
    const partitionKey = tableEntry(message.partition_key_table, partitionKeyIndex, where, 'partition key');
    // Presence must be read from the decoded object itself: protobufjs puts a default of 0 on
    // the message prototype for every optional field.
    const explicitHashKey = Object.hasOwn(userRecord, 'explicit_hash_key_index')
      ? tableEntry(message.explicit_hash_key_table, userRecord.explicit_hash_key_index, where, 'explicit hash key')
      : undefined;
    return {
      ...enclosing,
      data: userRecord.data,
      partitionKey,
      ...(explicitHashKey === undefined ? {} : { explicitHashKey }),
      subSequenceNumber,
      aggregated: true,
      aggregate,
    };
  });
}

function tableEntry(
  table: readonly string[],
  rawIndex: unknown,
  where: { readonly sequenceNumber: string; readonly subSequenceNumber: number },
  what: string,
): string {
  const index = typeof rawIndex === 'number' ? rawIndex : Number(String(rawIndex));
  const entry = Number.isSafeInteger(index) ? table[index] : undefined;
  if (entry === undefined) {
    throw new CorruptAggregateError(
      where.sequenceNumber,
      `user record ${where.subSequenceNumber} of KPL aggregate ${where.sequenceNumber} points at ${what} ` +
        `${String(rawIndex)}, but the ${what} table has ${table.length} entries`,
    );
  }
  return entry;
}
