import type { ExtendedSequenceNumber, KinesisRecord } from '@shoal/processor-sdk';

/** Where reading a shard starts. `AFTER_CHECKPOINT` resumes right after a stored checkpoint. */
export type StartingPosition =
  | { readonly type: 'TRIM_HORIZON' }
  | { readonly type: 'LATEST' }
  | { readonly type: 'AT_TIMESTAMP'; readonly timestamp: Date }
  | { readonly type: 'AFTER_CHECKPOINT'; readonly checkpoint: ExtendedSequenceNumber };

export type FetchResult =
  | {
      readonly type: 'records';
      readonly records: readonly KinesisRecord[];
      readonly millisBehindLatest: number | undefined;
      readonly bytes: number;
    }
  | {
      readonly type: 'shard-end';
      readonly childShardIds: readonly string[];
      /** The shard was gone from the stream (expired out of retention) rather than read to its end. */
      readonly expired?: boolean;
    };
