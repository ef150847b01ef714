/** What one record put to a target stream holds. */
export interface TargetRecord {
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly explicitHashKey?: string;
}

/**
 * A record queued for a target. `orderingKeys` are the partition keys whose per-key order it
 * takes part in; by default its own. A KPL aggregate forwarded whole carries user records of
 * several keys, so it is ordered with every one of them.
 */
export interface PendingPut extends TargetRecord {
  readonly orderingKeys?: readonly string[];
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
 * it per partition key): at most one record per partition key (per ordering key, see
 * `PendingPut`), so that a partial failure can never leave a later record of a key written before
 * an earlier one; within the count and byte limits. A record left out keeps every later record
 * of its keys out too. Returns the call and what is left, in order.
 */
export function nextPutBatch<T extends PendingPut>(
  pending: readonly T[],
  limits: { readonly records: number; readonly bytes: number } = PUT_RECORDS_LIMITS,
): { batch: T[]; rest: T[] } {
  const batch: T[] = [];
  const rest: T[] = [];
  const taken = new Set<string>();
  const held = new Set<string>();
  let bytes = 0;
  for (const record of pending) {
    // Most records order by their partition key alone: no array for them.
    const keys = record.orderingKeys ?? record.partitionKey;
    const size = recordBytes(record);
    const fits = batch.length < limits.records && bytes + size <= limits.bytes;
    if (!fits || holdsAny(taken, keys) || holdsAny(held, keys)) {
      addAll(held, keys);
      rest.push(record);
      continue;
    }
    addAll(taken, keys);
    batch.push(record);
    bytes += size;
  }
  return { batch, rest };
}

function holdsAny(set: ReadonlySet<string>, keys: string | readonly string[]): boolean {
  return typeof keys === 'string' ? set.has(keys) : keys.some((key) => set.has(key));
}

function addAll(set: Set<string>, keys: string | readonly string[]): void {
  if (typeof keys === 'string') set.add(keys);
  else for (const key of keys) set.add(key);
}
