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
  /**
   * For a user record that came out of a KPL aggregate: that aggregate as Kinesis stored it, one
   * object shared by all of its user records, so a processor can pass it on whole (as the
   * replicator does) instead of one record per user record.
   */
  readonly aggregate?: KplAggregate;
  readonly encryptionType?: string;
}

/** A KPL aggregated record as GetRecords returned it. */
export interface KplAggregate {
  /** Its bytes exactly as read: the KPL magic, the protobuf body and its MD5. */
  readonly data: Uint8Array;
  /** The partition key it was put with. */
  readonly partitionKey: string;
  /** The user records it carries; theirs are the sub-sequence numbers 0 to this less one. */
  readonly userRecordCount: number;
}
