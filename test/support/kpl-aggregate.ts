import { createRequire } from 'node:module';

/** A user record as a KPL producer takes it. */
export interface UserRecord {
  readonly partitionKey: string;
  readonly data: Buffer;
  readonly explicitHashKey?: string;
}

/** An aggregated record as the producer puts it: the explicit hash key is its first user record's, when that has one. */
export interface EncodedAggregate {
  readonly partitionKey: string;
  readonly data: Buffer;
  readonly explicitHashKey?: string;
}

interface KplAggregator {
  aggregate(
    records: UserRecord[],
    encodedRecordHandler: (
      encoded: { partitionKey: string; data: Buffer; ExplicitHashKey?: string },
      done: (error?: Error) => void,
    ) => void,
    afterPutAggregatedRecords: () => void,
    errorCallback: (error: Error) => void,
  ): void;
}

const kpl = createRequire(import.meta.url)('aws-kinesis-agg') as KplAggregator;

/**
 * Packs user records into KPL aggregated records with aws-kinesis-agg, as a KPL producer
 * would. (Its key table misorders purely numeric partition keys; use keys with a letter.)
 */
export function aggregateUserRecords(records: UserRecord[]): Promise<EncodedAggregate[]> {
  return new Promise((resolve, reject) => {
    const encoded: EncodedAggregate[] = [];
    kpl.aggregate(
      records,
      ({ partitionKey, data, ExplicitHashKey }, done) => {
        encoded.push({ partitionKey, data, ...(ExplicitHashKey === undefined ? {} : { explicitHashKey: ExplicitHashKey }) });
        done();
      },
      () => resolve(encoded),
      reject,
    );
  });
}
