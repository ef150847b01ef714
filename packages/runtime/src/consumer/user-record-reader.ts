import type { _Record } from '@aws-sdk/client-kinesis';
import { compareExtendedSequenceNumbers, deaggregateRecords, type ExtendedSequenceNumber, type KinesisRecord } from '@shoal/processor-sdk';
import type { StartingPosition } from './fetch-result.js';

/**
 * Turns the Kinesis records of one answer (a GetRecords response or a SubscribeToShard event)
 * into the user records to deliver: KPL aggregates split into their user records, and those at
 * or before the skip point dropped. Reading resumes AT an aggregate's sequence number, since the
 * aggregate may still hold user records past a checkpoint inside it; the skip point drops the
 * ones already delivered.
 */
export class UserRecordReader {
  private skipThrough: ExtendedSequenceNumber | undefined;

  constructor(
    start: StartingPosition,
    private readonly onCorruptAggregate: (error: unknown) => void,
  ) {
    this.skipThrough = start.type === 'AFTER_CHECKPOINT' ? start.checkpoint : undefined;
  }

  /** User records at or before `position` were delivered already: drop them when they come again. */
  skipUpTo(position: ExtendedSequenceNumber): void {
    this.skipThrough = position;
  }

  read(raw: readonly _Record[]): { readonly records: KinesisRecord[]; readonly bytes: number } {
    let bytes = 0;
    for (const record of raw) bytes += record.Data?.byteLength ?? 0;
    let records = deaggregateRecords(raw, { onCorruptAggregate: this.onCorruptAggregate });
    const skipThrough = this.skipThrough;
    if (skipThrough) {
      records = records.filter((record) => compareExtendedSequenceNumbers(record, skipThrough) > 0);
      // Positions only grow; once past the skip point, stop comparing.
      if (raw.length > 0) this.skipThrough = undefined;
    }
    return { records, bytes };
  }
}
