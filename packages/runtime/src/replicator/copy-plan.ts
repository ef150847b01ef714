import type { KinesisRecord, KplAggregate } from '@shoal/processor-sdk';
import type { PendingPut, TargetRecord } from './put-batches.js';

/**
 * How the replicator writes the source's KPL aggregated records: `forward` writes each aggregate
 * as it was read (one record, the same bytes); `deaggregate` writes each of its user records on
 * its own.
 */
export type KplMode = 'forward' | 'deaggregate';

/** What the replicator copies of a batch, and where. */
export interface CopyRules {
  /** Every target's stream name. */
  readonly targets: readonly string[];
  readonly filter: (record: KinesisRecord) => boolean;
  readonly transform: (record: KinesisRecord) => TargetRecord;
  readonly route: (record: KinesisRecord) => readonly string[];
  readonly kpl: KplMode;
}

/** `route` named a stream that is not a target: the batch is not copied (and is tried again) until the route is fixed. */
export class UnknownTargetError extends Error {
  override readonly name = 'UnknownTargetError';
}

/**
 * What each target gets of a batch, in the batch's order: each record that passes the filter,
 * transformed, once for every target its route names. With `kpl: 'forward'`, a KPL aggregate
 * whose user records are all in the batch, all pass the filter and are all routed to a target
 * goes to that target whole, as read; otherwise the target gets the user records of it that are
 * meant for it, one by one (so a lease that resumed from a checkpoint inside an aggregate writes
 * only the user records after it).
 */
export function planCopies(records: readonly KinesisRecord[], rules: CopyRules): Map<string, PendingPut[]> {
  const perTarget = new Map<string, PendingPut[]>(rules.targets.map((name) => [name, []]));
  const destinations = (record: KinesisRecord): ReadonlySet<string> => {
    if (!rules.filter(record)) return NOWHERE;
    const names = new Set(rules.route(record));
    for (const name of names) {
      if (!perTarget.has(name))
        throw new UnknownTargetError(`route chose ${name}, which is not one of the targets (${rules.targets.join(', ')})`);
    }
    return names;
  };
  for (let start = 0; start < records.length;) {
    const aggregate = rules.kpl === 'forward' ? records[start]!.aggregate : undefined;
    if (aggregate === undefined) {
      const record = records[start]!;
      const names = destinations(record);
      if (names.size > 0) {
        const written = rules.transform(record);
        for (const name of names) perTarget.get(name)!.push(written);
      }
      start += 1;
      continue;
    }
    let end = start + 1;
    while (end < records.length && records[end]!.aggregate === aggregate) end += 1;
    copyAggregate(records.slice(start, end), aggregate, destinations, rules.transform, perTarget);
    start = end;
  }
  return perTarget;
}

/** The user records of one aggregate that the batch holds, in order, to every target. */
function copyAggregate(
  userRecords: readonly KinesisRecord[],
  aggregate: KplAggregate,
  destinations: (record: KinesisRecord) => ReadonlySet<string>,
  transform: (record: KinesisRecord) => TargetRecord,
  perTarget: Map<string, PendingPut[]>,
): void {
  const routed = userRecords.map(destinations);
  let whole: PendingPut | undefined;
  for (const [name, list] of perTarget) {
    const going = userRecords.filter((_, index) => routed[index]!.has(name));
    if (going.length === aggregate.userRecordCount) {
      whole ??= forwarded(aggregate, userRecords);
      list.push(whole);
    } else {
      for (const record of going) list.push(transform(record));
    }
  }
}

/**
 * The aggregate as it was read. GetRecords does not say which explicit hash key it was put with;
 * KPL producers put it with its first user record's (or, without one, its partition key, which is
 * the first user record's), so the copy is put with the same and lands at the same hash key.
 */
function forwarded(aggregate: KplAggregate, userRecords: readonly KinesisRecord[]): PendingPut {
  const explicitHashKey = userRecords[0]!.explicitHashKey;
  return {
    data: aggregate.data,
    partitionKey: aggregate.partitionKey,
    ...(explicitHashKey === undefined ? {} : { explicitHashKey }),
    orderingKeys: [...new Set([aggregate.partitionKey, ...userRecords.map((record) => record.partitionKey)])],
  };
}

const NOWHERE: ReadonlySet<string> = new Set();
