import { DynamoDbLeaseStore, leaseNamespace } from '@shoal/coordinator';
import { produceRecords } from '@shoal/local-stack';
import { compareSequenceNumbers, type Checkpoint } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { eventually, ownedLeaseCount, recordId, processorWith, useLocalStack } from './support/worker-harness.js';

const local = useLocalStack();

describe('a worker consuming a stream end to end', () => {
  it('a worker stopped gracefully is continued by a new one after the checkpoint, nothing lost or repeated', async () => {
    const stream = await local.createTestStream(4);
    const stack = local.stack();
    await produceRecords({ kinesis: stack.kinesis, streamName: stream.streamName, count: 2_000, batchSize: 100, ledger: stream.ledger });

    const first = await stream.createWorker({ workerId: 'first' });
    const firstRun = first.run();
    await eventually(() => stream.ledger.processedCount >= 1_000, 'the first worker processed half of the records');
    await first.shutdown();
    await firstRun;
    expect(first.state).toBe('stopped');

    await produceRecords({ kinesis: stack.kinesis, streamName: stream.streamName, count: 1_000, idPrefix: 'late', ledger: stream.ledger });
    const second = await stream.createWorker({ workerId: 'second' });
    void second.run();
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    expect(stream.ledger.summary()).toMatchObject({ produced: 3_000, processed: 3_000, lost: 0, duplicates: 0 });
  });

  it('after a stop without a final checkpoint, only records after the last checkpoint are processed again', async () => {
    const stream = await local.createTestStream(2);
    const stack = local.stack();
    await produceRecords({ kinesis: stack.kinesis, streamName: stream.streamName, count: 1_500, batchSize: 50, ledger: stream.ledger });

    // The first worker checkpoints every third batch and not at all when asked to shut down.
    const seenByFirst = new Map<string, { shardId: string; sequenceNumber: string }>();
    let batches = 0;
    const first = await stream.createWorker({
      workerId: 'forgetful',
      retrieval: {
        maxRecordsPerCall: 40,
        idleTimeBetweenReadsMs: 50,
        retryBaseMs: 20,
        retryMaxMs: 200,
        maxBufferedRecords: 200,
        maxBufferedBytes: 1 << 20,
      },
      processorFactory: ({ shardId }) =>
        processorWith(
          async ({ records, checkpointer }) => {
            for (const record of records) {
              stream.ledger.recordProcessed(recordId(record));
              seenByFirst.set(recordId(record), { shardId, sequenceNumber: record.sequenceNumber });
            }
            if (++batches % 3 === 0) await checkpointer.checkpoint();
          },
          { checkpointOnShutdown: false },
        ),
    });
    const firstRun = first.run();
    await eventually(() => stream.ledger.processedCount >= 600, 'the first worker processed part of the stream');
    await first.shutdown();
    await firstRun;

    const store = new DynamoDbLeaseStore({ client: stack.dynamodb, tableName: stream.leaseTableName });
    const { leases } = await store.readNamespace(leaseNamespace(stream.applicationName, stream.streamName));
    const checkpoints = new Map<string, Checkpoint>(leases.map((lease) => [lease.shardId, lease.checkpoint]));

    const seenBySecond = new Map<string, { shardId: string; sequenceNumber: string }>();
    const second = await stream.createWorker({
      workerId: 'second',
      processorFactory: ({ shardId }) =>
        processorWith(async ({ records, checkpointer }) => {
          for (const record of records) {
            stream.ledger.recordProcessed(recordId(record));
            seenBySecond.set(recordId(record), { shardId, sequenceNumber: record.sequenceNumber });
          }
          await checkpointer.checkpoint();
        }),
    });
    void second.run();
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);

    expect(stream.ledger.lost).toBe(0);
    expect(stream.ledger.duplicates).toBeGreaterThan(0);
    // Every repeat lies after its shard's last checkpoint; nothing at or before it came again.
    for (const [id, { shardId, sequenceNumber }] of seenBySecond) {
      const checkpoint = checkpoints.get(shardId);
      if (checkpoint?.type === 'SEQUENCE')
        expect(compareSequenceNumbers(sequenceNumber, checkpoint.position.sequenceNumber), id).toBeGreaterThan(0);
    }
    const repeats = [...seenBySecond.keys()].filter((id) => seenByFirst.has(id));
    expect(repeats.length).toBe(stream.ledger.duplicates);
  });

  it('a second worker takes half of the shards by graceful handoff, nothing lost or repeated', async () => {
    const stream = await local.createTestStream(4);
    const stack = local.stack();
    const a = await stream.createWorker({ workerId: 'a' });
    void a.run();
    await eventually(() => ownedLeaseCount(a) === 4, 'worker a owns all four leases');
    const producing = produceRecords({
      kinesis: stack.kinesis,
      streamName: stream.streamName,
      count: 3_000,
      batchSize: 50,
      pauseMs: 10,
      ledger: stream.ledger,
    });
    const b = await stream.createWorker({ workerId: 'b' });
    void b.run();
    await eventually(() => ownedLeaseCount(a) === 2 && ownedLeaseCount(b) === 2, 'the fleet settles at 2/2');
    await producing;
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    expect(stream.ledger.summary()).toMatchObject({ lost: 0, duplicates: 0, outOfOrder: 0 });
  });

  it('starts at LATEST, TRIM_HORIZON or AT_TIMESTAMP when a shard has no checkpoint', async () => {
    const stream = await local.createTestStream(1);
    const stack = local.stack();
    await produceRecords({ kinesis: stack.kinesis, streamName: stream.streamName, count: 100, idPrefix: 'early', ledger: stream.ledger });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const boundary = new Date();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await produceRecords({ kinesis: stack.kinesis, streamName: stream.streamName, count: 100, idPrefix: 'late', ledger: stream.ledger });

    const collect = async (initialPosition: 'LATEST' | 'TRIM_HORIZON' | { type: 'AT_TIMESTAMP'; timestamp: Date }) => {
      const ids: string[] = [];
      const kinesis = stream.createKinesisClient();
      let iteratorsTaken = 0;
      kinesis.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          if (context.commandName === 'GetShardIteratorCommand') iteratorsTaken += 1;
          return result;
        },
        { step: 'initialize', name: 'countIterators' },
      );
      const worker = await stream.createWorker({
        applicationName: `${stream.applicationName}-${typeof initialPosition === 'string' ? initialPosition : 'ts'}`.toLowerCase(),
        kinesis,
        initialPosition,
        processorFactory: () =>
          processorWith(
            async ({ records, checkpointer }) => {
              ids.push(...records.map(recordId));
              await checkpointer.checkpoint();
            },
            { checkpointOnShutdown: false },
          ),
      });
      void worker.run();
      await eventually(() => iteratorsTaken > 0, 'the consumer took its first iterator');
      return { ids, worker };
    };

    const latest = await collect('LATEST');
    const horizon = await collect('TRIM_HORIZON');
    const atTimestamp = await collect({ type: 'AT_TIMESTAMP', timestamp: boundary });
    await produceRecords({ kinesis: stack.kinesis, streamName: stream.streamName, count: 10, idPrefix: 'newest' });

    await eventually(
      () => latest.ids.length === 10 && horizon.ids.length === 210 && atTimestamp.ids.length === 110,
      'each position saw its records',
    );
    expect(latest.ids.every((id) => id.startsWith('newest'))).toBe(true);
    expect(horizon.ids.slice(0, 100).every((id) => id.startsWith('early'))).toBe(true);
    expect(atTimestamp.ids.slice(0, 100).every((id) => id.startsWith('late'))).toBe(true);
  });
});
