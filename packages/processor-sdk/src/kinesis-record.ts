/**
 * One user record as a processor sees it. Records a KPL producer aggregated arrive already
 * de-aggregated: each user record keeps the Kinesis sequence number of its aggregate and its
 * index inside it as `subSequenceNumber`.
 */
export interface KinesisRecord {
  /** The payload bytes. */
  readonly data: Uint8Array;
  readonly partitionKey: string;
  /** The explicit hash key a KPL producer set for this user record, if any. */
  readonly explicitHashKey?: string;
  readonly sequenceNumber: string;
  /** Index inside a KPL aggregate; 0 for records that were not aggregated. */
  readonly subSequenceNumber: number;
  /** When Kinesis accepted the (aggregate) record. */
  readonly approximateArrivalTimestamp: Date;
  /** True when this user record came out of a KPL aggregate. */
  readonly aggregated: boolean;
  readonly encryptionType?: string;
}
