import { createRequire } from 'node:module';

interface KplAggregator {
  aggregate(
    records: { partitionKey: string; data: Buffer }[],
    encodedRecordHandler: (encoded: { partitionKey: string; data: Buffer }, done: (error?: Error) => void) => void,
    afterPutAggregatedRecords: () => void,
    errorCallback: (error: Error) => void,
  ): void;
}

const kpl = createRequire(import.meta.url)('aws-kinesis-agg') as KplAggregator;

/**
 * Packs user records into KPL aggregated records with aws-kinesis-agg, as a KPL producer
 * would. (Its key table misorders purely numeric partition keys; use keys with a letter.)
 */
export function aggregateUserRecords(records: { partitionKey: string; data: Buffer }[]): Promise<{ partitionKey: string; data: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const encoded: { partitionKey: string; data: Buffer }[] = [];
    kpl.aggregate(
      records,
      (record, done) => {
        encoded.push(record);
        done();
      },
      () => resolve(encoded),
      reject,
    );
  });
}
