import { createHash } from 'node:crypto';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type Shard,
  type GetRecordsCommandInput,
  type GetRecordsCommandOutput,
  type GetShardIteratorCommandInput,
  type KinesisClient,
  type _Record,
} from '@aws-sdk/client-kinesis';
import type { ShardReadBudget } from '@shoal/coordinator';
import type { KinesisRecord } from '@shoal/processor-sdk';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { IdleReadPacer } from '../src/consumer/idle-read-pacer.js';
import { GetRecordsFetcher, type FetchResult, type StartingPosition } from '../src/consumer/get-records-fetcher.js';
import type { RetrievalOptions } from '../src/consumer/retrieval-options.js';
import { RecordingClock } from './fakes/fake-clock.js';
import { sequenceNumber } from './fakes/records.js';

const ARRIVAL = new Date('2024-05-06T07:08:09.010Z');

/** A plain GetRecords record at position `n`. */
function kinesisRecord(n: number): _Record {
  return {
    Data: new TextEncoder().encode(`record-${n}`),
    PartitionKey: `key-${n}`,
    SequenceNumber: sequenceNumber(n),
    ApproximateArrivalTimestamp: ARRIVAL,
  };
}

/**
 * A KPL aggregate at position `n` holding `count` user records, encoded by hand in the
 * aggregation format: magic bytes, the protobuf `AggregatedRecord`, the MD5 of that body.
 */
function aggregateRecord(n: number, count: number): _Record {
  const varint = (value: number): number[] => {
    const bytes: number[] = [];
    while (value > 0x7f) {
      bytes.push((value & 0x7f) | 0x80);
      value >>>= 7;
    }
    bytes.push(value);
    return bytes;
  };
  const lengthDelimited = (field: number, payload: Uint8Array): number[] => [(field << 3) | 2, ...varint(payload.length), ...payload];
  const body: number[] = [];
  for (let sub = 0; sub < count; sub += 1) body.push(...lengthDelimited(1, new TextEncoder().encode(`key-${n}.${sub}`)));
  for (let sub = 0; sub < count; sub += 1) {
    const userRecord = [0x08, ...varint(sub), ...lengthDelimited(3, new TextEncoder().encode(`record-${n}.${sub}`))];
    body.push(...lengthDelimited(3, Uint8Array.from(userRecord)));
  }
  const bodyBytes = Uint8Array.from(body);
  const data = Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), bodyBytes, createHash('md5').update(bodyBytes).digest()]);
  return { Data: data, PartitionKey: `aggregate-${n}`, SequenceNumber: sequenceNumber(n), ApproximateArrivalTimestamp: ARRIVAL };
}

function awsError(name: string): Error {
  return Object.assign(new Error(`${name} (injected)`), { name });
}

type GetRecordsReply = Partial<GetRecordsCommandOutput> | Error;

/**
 * Stands in for the Kinesis client: GetShardIterator hands out `iterator-<n>`; GetRecords plays
 * the queued replies in order and, when none is queued, waits for one (or for the abort).
 */
class FakeKinesis {
  readonly iteratorRequests: GetShardIteratorCommandInput[] = [];
  readonly getRecordsRequests: GetRecordsCommandInput[] = [];
  readonly iteratorErrors: Error[] = [];
  /** What ListShards answers: the stream's shards, or an error (the stream is gone). */
  listedShards: Partial<Shard>[] | Error = [{ ShardId: 'shardId-000000000001' }];
  private readonly replies: GetRecordsReply[] = [];
  private wake: (() => void) | undefined;

  get client(): KinesisClient {
    return this as unknown as KinesisClient;
  }

  reply(...replies: GetRecordsReply[]): void {
    this.replies.push(...replies);
    this.wake?.();
  }

  async send(command: object, options: { abortSignal?: AbortSignal } = {}): Promise<unknown> {
    if (command instanceof GetShardIteratorCommand) {
      this.iteratorRequests.push(command.input);
      const error = this.iteratorErrors.shift();
      if (error) throw error;
      return { ShardIterator: `iterator-${this.iteratorRequests.length}` };
    }
    if (command instanceof GetRecordsCommand) {
      this.getRecordsRequests.push(command.input);
      for (;;) {
        const reply = this.replies.shift();
        if (reply instanceof Error) throw reply;
        if (reply) return reply;
        await this.waitForReply(options.abortSignal);
      }
    }
    if (command instanceof ListShardsCommand) {
      if (this.listedShards instanceof Error) throw this.listedShards;
      return { Shards: this.listedShards };
    }
    throw new Error(`FakeKinesis does not answer ${command.constructor.name}`);
  }

  private waitForReply(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(awsError('AbortError'));
      const onAbort = () => reject(awsError('AbortError'));
      this.wake = () => {
        this.wake = undefined;
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

class RecordingReadBudget implements ShardReadBudget {
  calls = 0;
  bytes = 0;
  async acquireCall(): Promise<void> {
    this.calls += 1;
  }
  recordBytes(_stream: string, _shard: string, bytes: number): void {
    this.bytes += bytes;
  }
  async close(): Promise<void> {}
}

const RETRIEVAL: Required<RetrievalOptions> = {
  maxRecordsPerCall: 100,
  idleTimeBetweenReadsMs: 0,
  maxIdleTimeBetweenReadsMs: 0,
  idleReadsPerSecond: Number.POSITIVE_INFINITY,
  maxBufferedRecords: 1_000,
  maxBufferedBytes: 1024 * 1024,
  retryBaseMs: 200,
  retryMaxMs: 5_000,
};

/** For vi.waitFor: generous, since a busy machine may be slow; nothing here waits on real time. */
const EVENTUALLY = { timeout: 5_000, interval: 5 };

const fetchers: GetRecordsFetcher[] = [];

afterEach(async () => {
  await Promise.all(fetchers.splice(0).map((fetcher) => fetcher.stop()));
});

function startFetcher(
  start: StartingPosition = { type: 'TRIM_HORIZON' },
  retrieval: Partial<RetrievalOptions> = {},
  iteratorErrors: Error[] = [],
  kinesis = new FakeKinesis(),
  idlePacer?: IdleReadPacer,
  clock: RecordingClock = new RecordingClock(),
) {
  kinesis.iteratorErrors.push(...iteratorErrors);
  const budget = new RecordingReadBudget();
  const fetcher = new GetRecordsFetcher({
    kinesis: kinesis.client,
    streamName: 'unit-stream',
    shardId: 'shardId-000000000001',
    start,
    retrieval: { ...RETRIEVAL, ...retrieval },
    budget,
    ...(idlePacer ? { idlePacer } : {}),
    requestTimeoutMs: 5_000,
    clock,
    logger: pino({ level: 'silent' }),
  });
  fetchers.push(fetcher);
  fetcher.start();
  return { fetcher, kinesis, clock, budget };
}

/** `r3,r5.1` for record 3 and the second user record of aggregate 5. */
function ids(result: FetchResult): string {
  if (result.type !== 'records') return result.type;
  return result.records.map(id).join(',');
}

function id(record: KinesisRecord): string {
  const n = Number(record.sequenceNumber.slice(-10));
  return record.aggregated ? `r${n}.${record.subSequenceNumber}` : `r${n}`;
}

/** Lets every pending promise and immediate run, so a loop that could make progress has. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 20; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('GetRecordsFetcher: reading', () => {
  it('delivers records in shard order across calls, following each next iterator', async () => {
    const { fetcher, kinesis, budget } = startFetcher();
    kinesis.reply(
      { Records: [kinesisRecord(1), kinesisRecord(2)], NextShardIterator: 'iterator-after-2', MillisBehindLatest: 5_000 },
      { Records: [kinesisRecord(3)], NextShardIterator: 'iterator-after-3', MillisBehindLatest: 0 },
    );

    const first = await fetcher.next();
    expect(ids(first)).toBe('r1,r2');
    expect(first).toMatchObject({ millisBehindLatest: 5_000, bytes: 'record-1'.length + 'record-2'.length });
    expect(ids(await fetcher.next())).toBe('r3');

    expect(kinesis.iteratorRequests).toEqual([
      { StreamName: 'unit-stream', ShardId: 'shardId-000000000001', ShardIteratorType: 'TRIM_HORIZON' },
    ]);
    await vi.waitFor(() => expect(kinesis.getRecordsRequests).toHaveLength(3), EVENTUALLY);
    expect(kinesis.getRecordsRequests).toEqual([
      { ShardIterator: 'iterator-1', Limit: 100 },
      { ShardIterator: 'iterator-after-2', Limit: 100 },
      { ShardIterator: 'iterator-after-3', Limit: 100 },
    ]);
    expect(budget.bytes).toBe('record-1'.length + 'record-2'.length + 'record-3'.length);
    expect(budget.calls).toBe(3);
  });

  it('de-aggregates KPL records into user records', async () => {
    const { fetcher, kinesis } = startFetcher();
    kinesis.reply({ Records: [aggregateRecord(1, 3), kinesisRecord(2)], NextShardIterator: 'next' });
    expect(ids(await fetcher.next())).toBe('r1.0,r1.1,r1.2,r2');
  });

  it('waits after a call that returned nothing, then reads on', async () => {
    const { fetcher, kinesis, clock } = startFetcher({ type: 'LATEST' }, { idleTimeBetweenReadsMs: 250, maxIdleTimeBetweenReadsMs: 1_000 });
    kinesis.reply({ Records: [], NextShardIterator: 'still-empty' }, { Records: [kinesisRecord(1)], NextShardIterator: 'next' });
    expect(ids(await fetcher.next())).toBe('r1');
    expect(clock.sleeps[0]).toBe(250);
    expect(kinesis.iteratorRequests[0]?.ShardIteratorType).toBe('LATEST');
  });

  it('polls a shard that stays empty less and less often, up to the cap, and at the base rate again once records come', async () => {
    const { fetcher, kinesis, clock } = startFetcher({ type: 'LATEST' }, { idleTimeBetweenReadsMs: 250, maxIdleTimeBetweenReadsMs: 1_000 });
    const empty = { Records: [], NextShardIterator: 'still-empty' };
    kinesis.reply(empty, empty, empty, empty, empty, { Records: [kinesisRecord(1)], NextShardIterator: 'next' }, empty);
    expect(ids(await fetcher.next())).toBe('r1');
    await vi.waitFor(() => expect(clock.sleeps).toHaveLength(7), EVENTUALLY);
    expect(clock.sleeps).toEqual([250, 500, 1_000, 1_000, 1_000, 250, 250]);
  });

  it('takes its turn among the worker’s idle shards after an empty call only, never after one with records', async () => {
    const turns: number[] = [];
    const kinesis = new FakeKinesis();
    const pacer = { turn: async () => void turns.push(kinesis.getRecordsRequests.length) } as unknown as IdleReadPacer;
    const { fetcher } = startFetcher(
      { type: 'LATEST' },
      { idleTimeBetweenReadsMs: 250, maxIdleTimeBetweenReadsMs: 1_000 },
      [],
      kinesis,
      pacer,
    );
    const empty = { Records: [], NextShardIterator: 'still-empty' };
    kinesis.reply(
      empty,
      empty,
      { Records: [kinesisRecord(1)], NextShardIterator: 'next' },
      { Records: [kinesisRecord(2)], NextShardIterator: 'more' },
    );
    expect(ids(await fetcher.next())).toBe('r1');
    expect(ids(await fetcher.next())).toBe('r2');
    // The first two GetRecords came back empty, the next two with records.
    expect(turns).toEqual([1, 2]);
  });

  it('waits after a short call that is caught up, but reads on at once while behind the tip or given a full batch', async () => {
    const { fetcher, kinesis, clock } = startFetcher(
      { type: 'LATEST' },
      { idleTimeBetweenReadsMs: 250, maxIdleTimeBetweenReadsMs: 1_000, maxRecordsPerCall: 2 },
    );
    kinesis.reply(
      { Records: [kinesisRecord(1), kinesisRecord(2)], NextShardIterator: 'full' },
      { Records: [kinesisRecord(3)], NextShardIterator: 'behind', MillisBehindLatest: 5_000 },
      { Records: [kinesisRecord(4)], NextShardIterator: 'caught-up', MillisBehindLatest: 0 },
      { Records: [kinesisRecord(5)], NextShardIterator: 'next' },
    );
    expect(ids(await fetcher.next())).toBe('r1,r2');
    expect(ids(await fetcher.next())).toBe('r3');
    expect(clock.sleeps).toEqual([]);
    expect(ids(await fetcher.next())).toBe('r4');
    expect(ids(await fetcher.next())).toBe('r5');
    // One wait after r4 (caught up), one after r5.
    expect(clock.sleeps).toEqual([250, 250]);
  });

  it('starts AT_TIMESTAMP at the given time', async () => {
    const timestamp = new Date('2024-05-06T00:00:00.000Z');
    const { kinesis } = startFetcher({ type: 'AT_TIMESTAMP', timestamp });
    await vi.waitFor(() => expect(kinesis.iteratorRequests).toHaveLength(1), EVENTUALLY);
    expect(kinesis.iteratorRequests[0]).toMatchObject({ ShardIteratorType: 'AT_TIMESTAMP', Timestamp: timestamp });
  });

  it('reports the end of a closed shard, with its children, after its last records', async () => {
    const { fetcher, kinesis } = startFetcher();
    kinesis.reply({
      Records: [kinesisRecord(1)],
      NextShardIterator: undefined,
      ChildShards: [
        { ShardId: 'shardId-000000000002', ParentShards: ['shardId-000000000001'], HashKeyRange: undefined },
        { ShardId: 'shardId-000000000003', ParentShards: ['shardId-000000000001'], HashKeyRange: undefined },
      ],
    });
    expect(ids(await fetcher.next())).toBe('r1');
    expect(await fetcher.next()).toEqual({ type: 'shard-end', childShardIds: ['shardId-000000000002', 'shardId-000000000003'] });
    await settle();
    expect(kinesis.getRecordsRequests).toHaveLength(1);
  });

  it('stops calling GetRecords while the buffer is full, and resumes once it is drained', async () => {
    const { fetcher, kinesis } = startFetcher({ type: 'TRIM_HORIZON' }, { maxBufferedRecords: 2 });
    kinesis.reply(
      { Records: [kinesisRecord(1), kinesisRecord(2)], NextShardIterator: 'after-2' },
      { Records: [kinesisRecord(3), kinesisRecord(4)], NextShardIterator: 'after-4' },
    );
    await vi.waitFor(() => expect(kinesis.getRecordsRequests).toHaveLength(1), EVENTUALLY);
    await settle();
    expect(kinesis.getRecordsRequests).toHaveLength(1);

    expect(ids(await fetcher.next())).toBe('r1,r2');
    await vi.waitFor(() => expect(kinesis.getRecordsRequests).toHaveLength(2), EVENTUALLY);
    expect(ids(await fetcher.next())).toBe('r3,r4');
  });

  it('stops cleanly while a GetRecords call is in flight', async () => {
    const { fetcher, kinesis } = startFetcher();
    await vi.waitFor(() => expect(kinesis.getRecordsRequests).toHaveLength(1), EVENTUALLY);
    await fetcher.stop();
    const aborted = new AbortController();
    aborted.abort(new Error('consumer stopped'));
    await expect(fetcher.next(aborted.signal)).rejects.toThrow('consumer stopped');
  });
});

describe('GetRecordsFetcher: errors', () => {
  it('renews an expired iterator at the last record fetched without delivering it twice', async () => {
    const { fetcher, kinesis } = startFetcher();
    kinesis.reply(
      { Records: [kinesisRecord(1), kinesisRecord(2)], NextShardIterator: 'after-2' },
      awsError('ExpiredIteratorException'),
      // AT_SEQUENCE_NUMBER starts with the last record fetched again.
      { Records: [kinesisRecord(2), kinesisRecord(3)], NextShardIterator: 'after-3' },
    );

    expect(ids(await fetcher.next())).toBe('r1,r2');
    expect(ids(await fetcher.next())).toBe('r3');
    expect(kinesis.iteratorRequests[1]).toEqual({
      StreamName: 'unit-stream',
      ShardId: 'shardId-000000000001',
      ShardIteratorType: 'AT_SEQUENCE_NUMBER',
      StartingSequenceNumber: sequenceNumber(2),
    });
    expect(kinesis.getRecordsRequests[2]?.ShardIterator).toBe('iterator-2');
  });

  it('backs off on throttling, longer each time, then reads on', async () => {
    const { fetcher, kinesis, clock } = startFetcher();
    kinesis.reply(awsError('ProvisionedThroughputExceededException'), awsError('ProvisionedThroughputExceededException'), {
      Records: [kinesisRecord(1)],
      NextShardIterator: 'after-1',
    });

    expect(ids(await fetcher.next())).toBe('r1');
    expect(kinesis.getRecordsRequests.slice(0, 3).map((request) => request.ShardIterator)).toEqual([
      'iterator-1',
      'iterator-1',
      'iterator-1',
    ]);
    // Full jitter around retryBaseMs (200): [100, 200], then [200, 400].
    expect(clock.sleeps).toHaveLength(2);
    const [first, second] = clock.sleeps as [number, number];
    expect(first).toBeGreaterThanOrEqual(100);
    expect(first).toBeLessThanOrEqual(200);
    expect(second).toBeGreaterThanOrEqual(200);
    expect(second).toBeLessThanOrEqual(400);
  });

  it('retries GetShardIterator on a transient error', async () => {
    const { fetcher, kinesis, clock } = startFetcher({ type: 'TRIM_HORIZON' }, {}, [awsError('LimitExceededException')]);
    kinesis.reply({ Records: [kinesisRecord(1)], NextShardIterator: 'after-1' });
    expect(ids(await fetcher.next())).toBe('r1');
    expect(kinesis.iteratorRequests).toHaveLength(2);
    expect(clock.sleeps).toHaveLength(1);
  });

  it('fails next() when the shard cannot be read at all and the stream still lists it', async () => {
    const { fetcher, kinesis } = startFetcher({ type: 'TRIM_HORIZON' }, {}, [awsError('ResourceNotFoundException')]);
    await expect(fetcher.next()).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect(kinesis.getRecordsRequests).toHaveLength(0);
  });

  it('fails next() when the stream itself is gone', async () => {
    const kinesisError = awsError('ResourceNotFoundException');
    const { fetcher, kinesis } = startFetcher({ type: 'TRIM_HORIZON' }, {}, [kinesisError]);
    kinesis.listedShards = awsError('ResourceNotFoundException');
    await expect(fetcher.next()).rejects.toBe(kinesisError);
  });

  it('ends a shard the stream no longer lists (expired out of retention), naming its children', async () => {
    const kinesis = new FakeKinesis();
    kinesis.iteratorErrors.push(awsError('ResourceNotFoundException'));
    kinesis.listedShards = [
      { ShardId: 'shardId-000000000005', ParentShardId: 'shardId-000000000001' },
      { ShardId: 'shardId-000000000006', ParentShardId: 'shardId-000000000001' },
      { ShardId: 'shardId-000000000007', ParentShardId: 'shardId-000000000002' },
    ];
    const { fetcher } = startFetcher({ type: 'TRIM_HORIZON' }, {}, [], kinesis);
    expect(await fetcher.next()).toEqual({
      type: 'shard-end',
      childShardIds: ['shardId-000000000005', 'shardId-000000000006'],
      expired: true,
    });
    expect(kinesis.getRecordsRequests).toHaveLength(0);
  });

  it('ends a shard that disappears between two GetRecords calls', async () => {
    const { fetcher, kinesis } = startFetcher();
    kinesis.listedShards = [];
    kinesis.reply({ Records: [kinesisRecord(1)], NextShardIterator: 'after-1' }, awsError('ResourceNotFoundException'));
    expect(ids(await fetcher.next())).toBe('r1');
    expect(await fetcher.next()).toMatchObject({ type: 'shard-end', expired: true });
  });
});

describe('GetRecordsFetcher: resuming after a checkpoint', () => {
  it('starts at the checkpointed record and skips it', async () => {
    const { fetcher, kinesis } = startFetcher({
      type: 'AFTER_CHECKPOINT',
      checkpoint: { sequenceNumber: sequenceNumber(2), subSequenceNumber: 0 },
    });
    kinesis.reply({ Records: [kinesisRecord(2), kinesisRecord(3)], NextShardIterator: 'after-3' });

    expect(ids(await fetcher.next())).toBe('r3');
    expect(kinesis.iteratorRequests[0]).toMatchObject({
      ShardIteratorType: 'AT_SEQUENCE_NUMBER',
      StartingSequenceNumber: sequenceNumber(2),
    });
  });

  it('delivers the user records of the checkpointed aggregate that come after the checkpoint', async () => {
    const { fetcher, kinesis } = startFetcher({
      type: 'AFTER_CHECKPOINT',
      checkpoint: { sequenceNumber: sequenceNumber(5), subSequenceNumber: 1 },
    });
    kinesis.reply({ Records: [aggregateRecord(5, 4), kinesisRecord(6)], NextShardIterator: 'after-6' });
    expect(ids(await fetcher.next())).toBe('r5.2,r5.3,r6');
  });

  it('skips the whole aggregate when the checkpoint covers all of it', async () => {
    const checkpoint = { sequenceNumber: sequenceNumber(5), subSequenceNumber: Number.MAX_SAFE_INTEGER };
    const { fetcher, kinesis } = startFetcher({ type: 'AFTER_CHECKPOINT', checkpoint });
    kinesis.reply(
      { Records: [aggregateRecord(5, 3)], NextShardIterator: 'after-5' },
      { Records: [kinesisRecord(6)], NextShardIterator: 'after-6' },
    );
    expect(ids(await fetcher.next())).toBe('r6');
  });

  it('stops filtering once past the checkpoint', async () => {
    const { fetcher, kinesis } = startFetcher({
      type: 'AFTER_CHECKPOINT',
      checkpoint: { sequenceNumber: sequenceNumber(2), subSequenceNumber: 0 },
    });
    kinesis.reply(
      { Records: [], NextShardIterator: 'still-at-2' },
      { Records: [kinesisRecord(2), kinesisRecord(3)], NextShardIterator: 'after-3' },
      { Records: [kinesisRecord(4)], NextShardIterator: 'after-4' },
    );
    expect(ids(await fetcher.next())).toBe('r3');
    expect(ids(await fetcher.next())).toBe('r4');
  });

  describe('readTail, for a graceful drain', () => {
    /** Sleeps between caught-up calls until woken: only `readTail` can cut the wait short. */
    class SleepsUntilWoken extends RecordingClock {
      override async sleep(ms: number, signal?: AbortSignal): Promise<void> {
        this.sleeps.push(ms);
        await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
      }
    }
    const IDLE = { idleTimeBetweenReadsMs: 250, maxIdleTimeBetweenReadsMs: 1_000 };

    it("reads a caught-up shard's tip at once, cutting the wait before the next poll short", async () => {
      const { fetcher, kinesis } = startFetcher({ type: 'TRIM_HORIZON' }, IDLE, [], new FakeKinesis(), undefined, new SleepsUntilWoken());
      kinesis.reply({ Records: [kinesisRecord(1)], NextShardIterator: 'after-1' });
      expect(ids(await fetcher.next())).toBe('r1');
      await vi.waitFor(() => expect(kinesis.getRecordsRequests).toHaveLength(1), EVENTUALLY);
      const tail = fetcher.readTail(5_000);
      await vi.waitFor(() => expect(kinesis.getRecordsRequests).toHaveLength(2), EVENTUALLY);
      kinesis.reply({ Records: [kinesisRecord(2), kinesisRecord(3)], NextShardIterator: 'after-3' });
      expect(ids((await tail)!)).toBe('r2,r3');
    });

    it('finds nothing when the tip holds nothing new', async () => {
      const { fetcher, kinesis } = startFetcher({ type: 'TRIM_HORIZON' }, IDLE, [], new FakeKinesis(), undefined, new SleepsUntilWoken());
      kinesis.reply({ Records: [kinesisRecord(1)], NextShardIterator: 'after-1' });
      await fetcher.next();
      const tail = fetcher.readTail(5_000);
      kinesis.reply({ Records: [], NextShardIterator: 'after-1-again' });
      await expect(tail).resolves.toBeUndefined();
    });

    it('ends at once when the fetcher stops during it (a drain that timed out)', async () => {
      const { fetcher, kinesis } = startFetcher({ type: 'TRIM_HORIZON' }, IDLE, [], new FakeKinesis(), undefined, new SleepsUntilWoken());
      kinesis.reply({ Records: [kinesisRecord(1)], NextShardIterator: 'after-1' });
      await fetcher.next();
      const tail = fetcher.readTail(60_000);
      await vi.waitFor(() => expect(kinesis.getRecordsRequests).toHaveLength(2), EVENTUALLY);
      await fetcher.stop();
      // Long before its own timeout: a consumer stopped meanwhile settles at once.
      await expect(tail).resolves.toBeUndefined();
    });

    it("takes the idle pacer's turn for the read of an idle shard, like any idle poll", async () => {
      const kinesis = new FakeKinesis();
      let turns = 0;
      // The worker is over its idle rate: no turn until the fetcher stops.
      const noTurnYet = {
        turn: (signal?: AbortSignal) => {
          turns += 1;
          return new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
        },
      } as unknown as IdleReadPacer;
      const { fetcher } = startFetcher({ type: 'LATEST' }, IDLE, [], kinesis, noTurnYet, new SleepsUntilWoken());
      kinesis.reply({ Records: [], NextShardIterator: 'still-empty' });
      await vi.waitFor(() => expect(kinesis.getRecordsRequests).toHaveLength(1), EVENTUALLY);
      await expect(fetcher.readTail(50)).resolves.toBeUndefined();
      expect({ calls: kinesis.getRecordsRequests.length, turns }).toEqual({ calls: 1, turns: 1 });
    });

    it('reads nothing more for a shard behind its tip, or with records still buffered: those are the next owner’s', async () => {
      const { fetcher, kinesis } = startFetcher({ type: 'TRIM_HORIZON' }, { ...IDLE, maxRecordsPerCall: 2 });
      kinesis.reply({ Records: [kinesisRecord(1), kinesisRecord(2)], NextShardIterator: 'after-2', MillisBehindLatest: 9_000 });
      await vi.waitFor(() => expect(kinesis.getRecordsRequests).toHaveLength(2), EVENTUALLY);
      await expect(fetcher.readTail(5_000)).resolves.toBeUndefined();
      expect(ids(await fetcher.next())).toBe('r1,r2');
      await expect(fetcher.readTail(5_000)).resolves.toBeUndefined();
    });
  });
});
