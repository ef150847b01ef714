import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { GetRecordsOutput, _Record } from '@aws-sdk/client-kinesis';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CorruptAggregateError, deaggregateRecord, deaggregateRecords } from '../src/deaggregate.js';
import { InvalidArgumentError } from '../src/errors.js';
import { MAX_HASH_KEY } from '../src/hash-key.js';

interface UserRecordInput {
  partitionKey: string;
  data: Buffer;
  explicitHashKey?: string;
}

interface KplLibrary {
  aggregate(
    records: UserRecordInput[],
    encodedRecordHandler: (encoded: { partitionKey: string; data: Buffer }, done: (error?: Error) => void) => void,
    afterPutAggregatedRecords: () => void,
    errorCallback: (error: Error) => void,
  ): void;
}

interface KplCommon {
  AggregatedRecord: { encode(message: unknown): { finish(): Uint8Array } };
}

const require = createRequire(import.meta.url);
const kpl = require('aws-kinesis-agg') as KplLibrary;
const { AggregatedRecord } = require('aws-kinesis-agg/lib/common.js') as KplCommon;

const MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);
const ARRIVAL = new Date('2024-05-06T07:08:09.010Z');

/** Aggregates user records with aws-kinesis-agg, as a KPL-style producer would. */
function aggregate(records: UserRecordInput[]): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const encoded: Buffer[] = [];
    kpl.aggregate(
      records,
      (record, done) => {
        encoded.push(record.data);
        done();
      },
      () => resolve(encoded),
      reject,
    );
  });
}

/** Wraps an encoded protobuf body in the aggregation format: magic, body, MD5 of the body. */
function frame(body: Uint8Array): Buffer {
  return Buffer.concat([MAGIC, body, createHash('md5').update(body).digest()]);
}

const SEQUENCE_NUMBER = '49590338271490256608559692538361571095921575989136588898';

function sdkRecord(data: Uint8Array, sequenceNumber = SEQUENCE_NUMBER): _Record {
  return {
    Data: data,
    PartitionKey: 'aggregate-key',
    SequenceNumber: sequenceNumber,
    ApproximateArrivalTimestamp: ARRIVAL,
  };
}

/** A copy of `bytes` placed in the middle of a larger buffer, as the SDK's base64 decoder does. */
function viewInsideLargerBuffer(bytes: Uint8Array): Uint8Array {
  const backing = new Uint8Array(bytes.length + 64).fill(0xee);
  backing.set(bytes, 32);
  return backing.subarray(32, 32 + bytes.length);
}

// Aggregation tables are built as plain objects inside aws-kinesis-agg, which reorders keys
// that look like array indices; user-record keys in these tests avoid that shape.
const bigExplicitHashKey = fc.bigInt({ min: 2n ** 40n, max: MAX_HASH_KEY }).map(String);

let consoleSpies: ReturnType<typeof vi.spyOn>[] = [];
beforeEach(() => {
  consoleSpies = (['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((method) =>
    vi.spyOn(console, method).mockImplementation(() => undefined),
  );
});
afterEach(() => {
  for (const spy of consoleSpies) expect(spy).not.toHaveBeenCalled();
  vi.restoreAllMocks();
});

describe('deaggregateRecord on plain records', () => {
  it('returns the record as is, with the very same bytes', () => {
    const data = new TextEncoder().encode('{"hello":"world"}');
    const record: _Record = {
      Data: data,
      PartitionKey: 'pk-1',
      SequenceNumber: SEQUENCE_NUMBER,
      ApproximateArrivalTimestamp: ARRIVAL,
      EncryptionType: 'KMS',
    };
    const [result, ...rest] = deaggregateRecord(record);
    expect(rest).toEqual([]);
    expect(result).toEqual({
      data,
      partitionKey: 'pk-1',
      sequenceNumber: SEQUENCE_NUMBER,
      subSequenceNumber: 0,
      approximateArrivalTimestamp: ARRIVAL,
      aggregated: false,
      encryptionType: 'KMS',
    });
    expect(result?.data).toBe(data);
    expect(result).not.toHaveProperty('explicitHashKey');
  });

  it('does not take records that merely start like the magic number for aggregates', () => {
    for (const data of [new Uint8Array(), MAGIC.subarray(0, 3), Buffer.from([0xf3, 0x89, 0x9a, 0xc3, 1, 2])]) {
      const onCorruptAggregate = vi.fn();
      const result = deaggregateRecord(sdkRecord(data), { onCorruptAggregate });
      expect(result).toHaveLength(1);
      expect(result[0]?.data).toBe(data);
      expect(onCorruptAggregate).not.toHaveBeenCalled();
    }
  });

  it('uses the epoch for a missing arrival time and an empty partition key when none was returned', () => {
    const [result] = deaggregateRecord({ Data: new Uint8Array([1]), SequenceNumber: '1' });
    expect(result?.approximateArrivalTimestamp).toEqual(new Date(0));
    expect(result?.partitionKey).toBe('');
    expect(result).not.toHaveProperty('encryptionType');
  });

  it('rejects a record without a valid sequence number or data', () => {
    expect(() => deaggregateRecord({ Data: new Uint8Array([1]), SequenceNumber: undefined })).toThrow(InvalidArgumentError);
    expect(() => deaggregateRecord({ Data: new Uint8Array([1]), SequenceNumber: '12a' })).toThrow(/"12a"/);
    expect(() => deaggregateRecord({ Data: undefined, SequenceNumber: '12' })).toThrow(/record 12 has no Data/);
  });
});

describe('deaggregateRecord on KPL aggregates', () => {
  it('yields every user record in order with its keys, data and sub-sequence number', async () => {
    const ehkA = (2n ** 127n + 12345n).toString();
    const ehkB = (MAX_HASH_KEY - 1n).toString();
    const users: UserRecordInput[] = [
      { partitionKey: 'alpha', data: Buffer.from('first') },
      { partitionKey: 'beta', data: Buffer.from('second'), explicitHashKey: ehkA },
      { partitionKey: 'alpha', data: Buffer.from('') },
      { partitionKey: 'gamma', data: Buffer.from([0, 255, 128]), explicitHashKey: ehkB },
      { partitionKey: 'delta', data: Buffer.from('fifth') },
      { partitionKey: 'beta', data: Buffer.from('sixth'), explicitHashKey: ehkA },
    ];
    const [encoded, ...more] = await aggregate(users);
    expect(more).toEqual([]);
    const record = sdkRecord(viewInsideLargerBuffer(encoded as Buffer));
    record.EncryptionType = 'KMS';

    const result = deaggregateRecord(record);

    expect(result).toHaveLength(users.length);
    result.forEach((userRecord, i) => {
      const expected = users[i] as UserRecordInput;
      expect(userRecord.partitionKey).toBe(expected.partitionKey);
      expect(userRecord.explicitHashKey).toBe(expected.explicitHashKey);
      expect('explicitHashKey' in userRecord).toBe(expected.explicitHashKey !== undefined);
      expect(Buffer.from(userRecord.data).equals(expected.data)).toBe(true);
      expect(userRecord.sequenceNumber).toBe(record.SequenceNumber);
      expect(userRecord.subSequenceNumber).toBe(i);
      expect(userRecord.aggregated).toBe(true);
      expect(userRecord.approximateArrivalTimestamp).toEqual(ARRIVAL);
      expect(userRecord.encryptionType).toBe('KMS');
    });
    // Each carries the aggregate as read, one object for all, to forward it whole.
    const enclosing = result[0]!.aggregate;
    expect(enclosing).toEqual({ data: record.Data, partitionKey: 'aggregate-key', userRecordCount: users.length });
    expect(Buffer.from(enclosing!.data).equals(encoded as Buffer)).toBe(true);
    expect(result.every((userRecord) => userRecord.aggregate === enclosing)).toBe(true);
  });

  it('flattens a GetRecords response in order', async () => {
    const [aggregated] = await aggregate([
      { partitionKey: 'a', data: Buffer.from('a0') },
      { partitionKey: 'b', data: Buffer.from('a1') },
    ]);
    const response: GetRecordsOutput = {
      Records: [
        { Data: Buffer.from('plain-1'), PartitionKey: 'p1', SequenceNumber: '100' },
        { Data: aggregated, PartitionKey: 'a', SequenceNumber: '101' },
        { Data: Buffer.from('plain-2'), PartitionKey: 'p2', SequenceNumber: '102' },
      ],
    };
    const result = deaggregateRecords(response.Records ?? []);
    const summary = result.map((r) => [r.sequenceNumber, r.subSequenceNumber, r.partitionKey, Buffer.from(r.data).toString()]);
    expect(summary).toEqual([
      ['100', 0, 'p1', 'plain-1'],
      ['101', 0, 'a', 'a0'],
      ['101', 1, 'b', 'a1'],
      ['102', 0, 'p2', 'plain-2'],
    ]);
    expect(result.map((r) => r.aggregated)).toEqual([false, true, true, false]);
  });

  it('yields nothing for a valid aggregate holding no user records', () => {
    const empty = { partition_key_table: [], explicit_hash_key_table: [], records: [] };
    const body = AggregatedRecord.encode(empty).finish();
    const onCorruptAggregate = vi.fn();
    expect(deaggregateRecord(sdkRecord(frame(body)), { onCorruptAggregate })).toEqual([]);
    expect(onCorruptAggregate).not.toHaveBeenCalled();
  });

  it('keeps any list of user records through aggregate → deaggregate', async () => {
    const userRecord = fc.record(
      {
        partitionKey: fc.string({ unit: 'binary', maxLength: 60 }).map((key) => `k${key}`),
        data: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
        explicitHashKey: bigExplicitHashKey,
      },
      { requiredKeys: ['partitionKey', 'data'] },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(userRecord, { minLength: 1, maxLength: 40 }), async (users) => {
        const encoded = await aggregate(users);
        const records = encoded.map((data, i) => sdkRecord(data, String(1000 + i)));
        const result = deaggregateRecords(records);
        expect(
          result.map((r) => ({
            partitionKey: r.partitionKey,
            data: Buffer.from(r.data),
            ...(r.explicitHashKey === undefined ? {} : { explicitHashKey: r.explicitHashKey }),
          })),
        ).toEqual(users);
        expect(result.every((r) => r.aggregated)).toBe(true);
        if (encoded.length === 1) expect(result.map((r) => r.subSequenceNumber)).toEqual(users.map((_, i) => i));
      }),
      { numRuns: 60 },
    );
  });
});

describe('deaggregateRecord on corrupt aggregates', () => {
  async function validAggregate(): Promise<Buffer> {
    const [encoded] = await aggregate([
      { partitionKey: 'x', data: Buffer.from('one') },
      { partitionKey: 'y', data: Buffer.from('two') },
    ]);
    return encoded as Buffer;
  }

  function expectFallback(data: Uint8Array, reason: RegExp): void {
    const record = sdkRecord(data, '777');
    const onCorruptAggregate = vi.fn();
    const result = deaggregateRecord(record, { onCorruptAggregate });
    expect(result).toEqual([
      {
        data,
        partitionKey: 'aggregate-key',
        sequenceNumber: '777',
        subSequenceNumber: 0,
        approximateArrivalTimestamp: ARRIVAL,
        aggregated: false,
      },
    ]);
    expect(result[0]?.data).toBe(data);
    expect(onCorruptAggregate).toHaveBeenCalledOnce();
    const [error, reported] = onCorruptAggregate.mock.calls[0] as [unknown, _Record];
    expect(reported).toBe(record);
    expect(error).toBeInstanceOf(CorruptAggregateError);
    expect((error as CorruptAggregateError).sequenceNumber).toBe('777');
    expect((error as Error).message).toMatch(reason);
  }

  it('delivers the whole record when a checksum byte is flipped', async () => {
    const data = await validAggregate();
    data[data.length - 1] = (data[data.length - 1] as number) ^ 0xff;
    expectFallback(data, /KPL aggregate 777 fails its MD5 checksum/);
  });

  it('delivers the whole record when a body byte is flipped', async () => {
    const data = await validAggregate();
    data[8] = (data[8] as number) ^ 0x01;
    expectFallback(data, /fails its MD5 checksum/);
  });

  it('delivers the whole record when it is too short to hold a checksum', () => {
    expectFallback(Buffer.concat([MAGIC, Buffer.from([1, 2, 3])]), /is 7 bytes, too short/);
  });

  it('delivers the whole record when a checksummed body does not decode', () => {
    expectFallback(frame(Buffer.from([0xff, 0xff, 0xff])), /does not decode/);
  });

  it('delivers the whole record when a user record points outside the key tables', () => {
    const badPartitionKey = AggregatedRecord.encode({
      partition_key_table: ['only'],
      explicit_hash_key_table: [],
      records: [
        { partition_key_index: 0, data: Buffer.from('ok') },
        { partition_key_index: 3, data: Buffer.from('bad') },
      ],
    }).finish();
    expectFallback(frame(badPartitionKey), /user record 1 of KPL aggregate 777 points at partition key 3/);

    const badExplicitHashKey = AggregatedRecord.encode({
      partition_key_table: ['only'],
      explicit_hash_key_table: [],
      records: [{ partition_key_index: 0, explicit_hash_key_index: 0, data: Buffer.from('ok') }],
    }).finish();
    expectFallback(frame(badExplicitHashKey), /points at explicit hash key 0, but the explicit hash key table has 0/);
  });

  it('works without a callback', async () => {
    const data = await validAggregate();
    data[data.length - 1] = (data[data.length - 1] as number) ^ 0xff;
    expect(deaggregateRecord(sdkRecord(data))).toHaveLength(1);
  });

  it('lets an error thrown by the callback through', async () => {
    const data = await validAggregate();
    data[data.length - 1] = (data[data.length - 1] as number) ^ 0xff;
    const stop = new Error('stop');
    expect(() =>
      deaggregateRecord(sdkRecord(data), {
        onCorruptAggregate: () => {
          throw stop;
        },
      }),
    ).toThrow(stop);
  });
});
