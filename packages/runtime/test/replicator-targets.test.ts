import { KinesisClient, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import type { KinesisRecord } from '@shoal/processor-sdk';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';

afterAll(() => {
  for (const c of clients) c.destroy();
});
import { replicatorProcessor } from '../src/replicator/replicator.js';

const clients: KinesisClient[] = [];
function target(latencyMs: number) {
  const received: { key: string; atMs: number }[] = [];
  const start = performance.now();
  // A real client (the replicator wraps anything else as a config); answered in-process, no network.
  const kinesis = new KinesisClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
  clients.push(kinesis);
  kinesis.middlewareStack.add(
    () => async (args) => {
      await new Promise((resolve) => setTimeout(resolve, latencyMs));
      const records = (args.input as PutRecordsCommandInput).Records ?? [];
      for (const r of records) received.push({ key: r.PartitionKey!, atMs: performance.now() - start });
      return {
        response: {},
        output: { $metadata: {}, FailedRecordCount: 0, Records: records.map(() => ({ SequenceNumber: '1', ShardId: 'shardId-0' })) },
      } as never;
    },
    { step: 'initialize', name: 'fakeTarget', priority: 'low' },
  );
  return { kinesis, received };
}

function rec(i: number, key: string, size = 10): KinesisRecord {
  return {
    data: new Uint8Array(size),
    partitionKey: key,
    sequenceNumber: String(1000 + i),
    subSequenceNumber: 0,
    approximateArrivalTimestamp: new Date(),
    aggregated: false,
  };
}

describe('replicatorProcessor when one target refuses the batch', () => {
  it('writes nothing (and nothing more after it threw) to the other targets of a batch it rejects', async () => {
    const a = target(50);
    const b = target(0);
    const factory = replicatorProcessor({
      targets: [
        { streamName: 'a', kinesis: a.kinesis },
        { streamName: 'b', kinesis: b.kinesis },
      ],
      // The big record goes to `b` only; the rest to both.
      route: (record) => (record.data.byteLength > 1024 * 1024 ? ['b'] : ['a', 'b']),
      logger: pino({ level: 'silent' }),
    });
    const processor = factory({ streamName: 's', shardId: 'shardId-0' } as never);
    // k0..k2 have three records each, so `a` needs several calls; then a record `b` can never take.
    const records = [...Array.from({ length: 9 }, (_, i) => rec(i, `k${i % 3}`)), rec(9, 'big', 1024 * 1024 + 1)];
    const checkpoints: number[] = [];
    const input = {
      records,
      checkpointer: { checkpoint: async () => void checkpoints.push(1) },
      signal: new AbortController().signal,
    } as never;
    // The runtime delivers a batch that threw again after a backoff: three deliveries here.
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      outcomes.push(
        await Promise.resolve(processor.processRecords(input)).then(
          () => 'ok',
          (err: Error) => err.name,
        ),
      );
      const rejectedAtCount = a.received.length;
      await new Promise((resolve) => setTimeout(resolve, 300));
      outcomes.push(`a got ${a.received.length - rejectedAtCount} records after processRecords rejected`);
    }
    expect(checkpoints).toEqual([]);
    expect(outcomes[0]).toBe('RecordTooLargeError');
    // Each rejected delivery copies the batch to `a` again, in the background: 27 records for 9.
    expect(a.received.length, JSON.stringify(outcomes)).toBeLessThanOrEqual(9);
    expect(outcomes.filter((o) => o.startsWith('a got') && !o.startsWith('a got 0'))).toEqual([]);
  });

  it('does not write a record twice when route names a target twice', async () => {
    const a = target(0);
    const factory = replicatorProcessor({
      targets: [{ streamName: 'a', kinesis: a.kinesis }],
      route: () => ['a', 'a'],
      logger: pino({ level: 'silent' }),
    });
    const processor = factory({ streamName: 's', shardId: 'shardId-0' } as never);
    const input = {
      records: [rec(0, 'k')],
      checkpointer: { checkpoint: async () => undefined },
      signal: new AbortController().signal,
    } as never;
    const outcome = await Promise.resolve(processor.processRecords(input)).then(
      () => 'ok',
      (err: Error) => err.message,
    );
    // Either a clear error about the route, or one copy.
    expect(outcome === 'ok' ? a.received.length : 1).toBe(1);
  });
});
