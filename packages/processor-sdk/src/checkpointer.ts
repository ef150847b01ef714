import type { KinesisRecord } from './kinesis-record.js';

/**
 * Records progress for one shard lease. Every checkpoint is a conditional write on the lease's
 * owner and epoch, so a worker that lost the lease cannot move it: the call rejects with
 * `LeaseLostError` and the stored checkpoint stays as it was.
 *
 * A checkpoint must lie between the last checkpoint and the last record delivered to the
 * processor; anything else rejects with `InvalidCheckpointError`.
 */
export interface Checkpointer {
  /**
   * Without arguments: in `processRecords`, the last record of the batch; in
   * `shutdownRequested`, the last record of the last batch `processRecords` finished; in
   * `shardEnded`, the end of the shard. Where the stored checkpoint is already at or past that
   * position (the processor checkpointed further itself), it does nothing.
   */
  checkpoint(): Promise<void>;
  /** At this record (its sequence and sub-sequence number). */
  checkpoint(record: KinesisRecord): Promise<void>;
  /** At an explicit position; `subSequenceNumber` defaults to the last user record of that sequence number. */
  checkpoint(sequenceNumber: string, subSequenceNumber?: number): Promise<void>;
}
