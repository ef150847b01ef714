/** What one record put to a target stream holds. */
export interface TargetRecord {
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly explicitHashKey?: string;
}

/** PutRecords limits (Kinesis API reference): records per call, bytes per call, bytes per record. */
export const PUT_RECORDS_LIMITS = { records: 500, bytes: 5 * 1024 * 1024, recordBytes: 1024 * 1024 } as const;

export class RecordTooLargeError extends Error {
  override readonly name = 'RecordTooLargeError';
}

/** A record's size as Kinesis counts it against the limits: its data and its partition key. */
export function recordBytes(record: TargetRecord): number {
  return record.data.byteLength + Buffer.byteLength(record.partitionKey, 'utf8');
}

/**
 * The next PutRecords call from `pending` (records of one target, in the order they must reach
 * it per partition key): at most one record per partition key, so that a partial failure can
 * never leave a later record of a key written before an earlier one; within the count and byte
 * limits. A record left out keeps every later record of its key out too. Returns the call and
 * what is left, in order.
 */
export function nextPutBatch<T extends TargetRecord>(
  pending: readonly T[],
  limits: { readonly records: number; readonly bytes: number } = PUT_RECORDS_LIMITS,
): { batch: T[]; rest: T[] } {
  const batch: T[] = [];
  const rest: T[] = [];
  const taken = new Set<string>();
  const held = new Set<string>();
  let bytes = 0;
  for (const record of pending) {
    const size = recordBytes(record);
    const fits = batch.length < limits.records && bytes + size <= limits.bytes;
    if (!fits || taken.has(record.partitionKey) || held.has(record.partitionKey)) {
      held.add(record.partitionKey);
      rest.push(record);
      continue;
    }
    taken.add(record.partitionKey);
    batch.push(record);
    bytes += size;
  }
  return { batch, rest };
}
