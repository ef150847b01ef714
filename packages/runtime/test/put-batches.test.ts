import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextPutBatch, recordBytes, type PendingPut, type TargetRecord } from '../src/replicator/put-batches.js';

function record(key: string, index: number, size = 10): TargetRecord & { index: number } {
  return { partitionKey: key, data: new Uint8Array(size), index };
}

describe('nextPutBatch', () => {
  it('takes one record per partition key, and keeps the rest in order', () => {
    const pending = [record('a', 0), record('b', 1), record('a', 2), record('c', 3), record('b', 4)];
    const { batch, rest } = nextPutBatch(pending);
    expect(batch.map((r) => r.index)).toEqual([0, 1, 3]);
    expect(rest.map((r) => r.index)).toEqual([2, 4]);
  });

  it('keeps every later record of a key out once one of that key did not fit', () => {
    const pending = [record('a', 0, 60), record('b', 1, 60), record('c', 2, 10), record('b', 3, 10)];
    const { batch, rest } = nextPutBatch(pending, { records: 500, bytes: 100 });
    expect(batch.map((r) => r.index)).toEqual([0, 2]);
    expect(rest.map((r) => r.index)).toEqual([1, 3]);
  });

  it('orders a record with several ordering keys (a forwarded KPL aggregate) with every one of them', () => {
    const aggregate: PendingPut & { index: number } = { ...record('a', 1), orderingKeys: ['a', 'b', 'c'] };
    const pending = [record('b', 0), aggregate, record('c', 2), record('d', 3), record('a', 4)];
    const first = nextPutBatch(pending);
    // `b` is in the call already, so the aggregate waits, and every later record of a, b or c with it.
    expect(first.batch.map((r) => r.index)).toEqual([0, 3]);
    const second = nextPutBatch(first.rest);
    expect(second.batch.map((r) => r.index)).toEqual([1]);
    expect(nextPutBatch(second.rest).batch.map((r) => r.index)).toEqual([2, 4]);
  });

  it('keeps to the limits, never puts two records of a key in one call, and loses or reorders nothing (property)', () => {
    const records = fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), size: fc.integer({ min: 0, max: 60 }) }), {
      maxLength: 60,
    });
    fc.assert(
      fc.property(records, fc.integer({ min: 1, max: 6 }), (specs, maxRecords) => {
        const limits = { records: maxRecords, bytes: 100 };
        let pending = specs.map((spec, index) => record(spec.key, index, spec.size));
        const written: (TargetRecord & { index: number })[] = [];
        for (let calls = 0; pending.length > 0; calls += 1) {
          expect(calls).toBeLessThan(1_000);
          const { batch, rest } = nextPutBatch(pending, limits);
          expect(batch.length).toBeGreaterThan(0);
          expect(batch.length).toBeLessThanOrEqual(maxRecords);
          expect(batch.reduce((sum, r) => sum + recordBytes(r), 0)).toBeLessThanOrEqual(Math.max(100, recordBytes(batch[0]!)));
          expect(new Set(batch.map((r) => r.partitionKey)).size).toBe(batch.length);
          written.push(...batch);
          pending = rest;
        }
        expect(written.map((r) => r.index).sort((a, b) => a - b)).toEqual(specs.map((_, index) => index));
        for (const key of ['a', 'b', 'c', 'd', 'e']) {
          const order = written.filter((r) => r.partitionKey === key).map((r) => r.index);
          expect(order).toEqual([...order].sort((a, b) => a - b));
        }
      }),
    );
  });
});
