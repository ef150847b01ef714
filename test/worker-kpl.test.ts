import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import type { KinesisRecord } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { aggregateUserRecords } from './support/kpl-aggregate.js';
import { eventually, processorWith, useLocalStack } from './support/worker-harness.js';

const local = useLocalStack();

describe('KPL aggregated records', () => {
  it('are de-aggregated for the processor, and a checkpoint inside an aggregate resumes at the next user record', async () => {
    const stream = await local.createTestStream(1);
    const stack = local.stack();
    // Three aggregates of ten user records each, written in order to the single shard.
    for (let aggregate = 0; aggregate < 3; aggregate += 1) {
      const users = Array.from({ length: 10 }, (_, index) => ({
        partitionKey: `user-${aggregate}-${index}`,
        data: Buffer.from(`a${aggregate}-u${index}`),
      }));
      const [encoded] = await aggregateUserRecords(users);
      await stack.kinesis.send(
        new PutRecordCommand({ StreamName: stream.streamName, PartitionKey: encoded!.partitionKey, Data: encoded!.data }),
      );
    }
    const text = (record: KinesisRecord) => Buffer.from(record.data).toString();

    // The first worker checkpoints at the fourth user record of the second aggregate, then stops.
    const firstSeen: KinesisRecord[] = [];
    let checkpointed = false;
    const first = await stream.createWorker({
      workerId: 'first',
      processorFactory: () =>
        processorWith(
          async ({ records, checkpointer }) => {
            for (const record of records) {
              firstSeen.push(record);
              if (text(record) === 'a1-u3') {
                await checkpointer.checkpoint(record);
                checkpointed = true;
              }
            }
          },
          { checkpointOnShutdown: false },
        ),
    });
    const firstRun = first.run();
    await eventually(() => checkpointed && firstSeen.length === 30, 'the first worker saw every user record');
    expect(firstSeen.map(text)).toEqual(Array.from({ length: 30 }, (_, i) => `a${Math.floor(i / 10)}-u${i % 10}`));
    expect(firstSeen.every((record) => record.aggregated)).toBe(true);
    expect(firstSeen.slice(0, 10).map((record) => record.subSequenceNumber)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(firstSeen[13]!.partitionKey).toBe('user-1-3');
    await first.shutdown();
    await firstRun;

    const secondSeen: string[] = [];
    const second = await stream.createWorker({
      workerId: 'second',
      processorFactory: () =>
        processorWith(async ({ records, checkpointer }) => {
          secondSeen.push(...records.map(text));
          await checkpointer.checkpoint();
        }),
    });
    void second.run();
    await eventually(() => secondSeen.length >= 16, 'the second worker resumed');
    expect(secondSeen).toEqual([
      ...Array.from({ length: 6 }, (_, i) => `a1-u${i + 4}`),
      ...Array.from({ length: 10 }, (_, i) => `a2-u${i}`),
    ]);
  });
});
