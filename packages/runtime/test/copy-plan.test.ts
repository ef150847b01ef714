import type { KinesisRecord, KplAggregate } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { planCopies, UnknownTargetError, type CopyRules } from '../src/replicator/copy-plan.js';
import type { PendingPut } from '../src/replicator/put-batches.js';
import { aggregatedUserRecords, userRecord } from './fakes/records.js';

/** The user records of an aggregate at `n`, each carrying the aggregate (as de-aggregation gives them). */
function aggregateOf(n: number, keys: readonly string[], explicitHashKey?: string): { aggregate: KplAggregate; users: KinesisRecord[] } {
  const aggregate: KplAggregate = {
    data: new TextEncoder().encode(`aggregate-${n}`),
    partitionKey: keys[0]!,
    userRecordCount: keys.length,
  };
  const users = aggregatedUserRecords(n, keys.length).map((record, sub) => ({
    ...record,
    partitionKey: keys[sub]!,
    ...(sub === 0 && explicitHashKey !== undefined ? { explicitHashKey } : {}),
    aggregate,
  }));
  return { aggregate, users };
}

function rules(overrides: Partial<CopyRules> = {}): CopyRules {
  return {
    targets: ['a', 'b'],
    filter: () => true,
    transform: (record) => record,
    route: () => ['a', 'b'],
    kpl: 'forward',
    ...overrides,
  };
}

const text = (put: PendingPut) => new TextDecoder().decode(put.data);

describe('planCopies', () => {
  it('forwards a whole aggregate as one record: its bytes, partition key and first explicit hash key, ordered with every key it carries', () => {
    const { aggregate, users } = aggregateOf(2, ['k1', 'k2', 'k1'], '123');
    const plan = planCopies([userRecord(1, 'k2'), ...users, userRecord(3, 'k1')], rules());
    for (const target of ['a', 'b']) {
      const puts = plan.get(target)!;
      expect(puts.map(text)).toEqual(['record-1', 'aggregate-2', 'record-3']);
      expect(puts[1]).toEqual({ data: aggregate.data, partitionKey: 'k1', explicitHashKey: '123', orderingKeys: ['k1', 'k2'] });
      expect(puts[1]!.data).toBe(aggregate.data);
    }
  });

  it('de-aggregates when asked to: every user record on its own, with its own keys', () => {
    const { users } = aggregateOf(2, ['k1', 'k2'], '123');
    const plan = planCopies(users, rules({ kpl: 'deaggregate' }));
    expect(plan.get('a')).toEqual(users);
  });

  it('writes the user records one by one when the batch holds only part of the aggregate (resumed inside it)', () => {
    const { users } = aggregateOf(2, ['k1', 'k2', 'k3', 'k4']);
    const plan = planCopies(users.slice(2), rules());
    expect(plan.get('a')!.map(text)).toEqual(['record-2.2', 'record-2.3']);
  });

  it('forwards an aggregate whole only to the targets that get all of it, and its user records one by one to the others', () => {
    const { users } = aggregateOf(5, ['k1', 'k2', 'k3']);
    const skipped = users[1]!;
    // k3 goes to `a` only; everything else to both. `b` is missing k3 and gets the rest one by one.
    const routed = planCopies(users, rules({ route: (record) => (record.partitionKey === 'k3' ? ['a'] : ['a', 'b']) }));
    expect(routed.get('a')!.map(text)).toEqual(['aggregate-5']);
    expect(routed.get('b')!.map(text)).toEqual(['record-5.0', 'record-5.1']);
    const filtered = planCopies(users, rules({ filter: (record) => record !== skipped }));
    expect(filtered.get('a')!.map(text)).toEqual(['record-5.0', 'record-5.2']);
  });

  it('tells two aggregates in a row apart', () => {
    const first = aggregateOf(1, ['k1', 'k2']);
    const second = aggregateOf(2, ['k2', 'k3']);
    const plan = planCopies([...first.users, ...second.users], rules({ targets: ['a'], route: () => ['a'] }));
    expect(plan.get('a')!.map(text)).toEqual(['aggregate-1', 'aggregate-2']);
  });

  it('refuses a route to a stream that is not a target', () => {
    expect(() => planCopies([userRecord(1)], rules({ route: () => ['c'] }))).toThrow(UnknownTargetError);
  });
});
