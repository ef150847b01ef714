/**
 * A record processor as `shoal worker --processor` loads it: the module's default export makes
 * one processor per shard. This one counts records per partition key, logs the busiest keys of
 * each batch, and checkpoints after every batch, so a worker that stops or loses the lease
 * resumes right after the last batch handled.
 */
import type { ShardRecordProcessor, ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import { pino } from 'pino';

const logger = pino({ name: 'key-counts' });

/** How many of a batch's busiest keys each log line names. */
const TOP_KEYS = 3;

const processorFactory: ShardRecordProcessorFactory = (shard): ShardRecordProcessor => {
  const counts = new Map<string, number>();
  return {
    async processRecords({ records, checkpointer }) {
      for (const record of records) counts.set(record.partitionKey, (counts.get(record.partitionKey) ?? 0) + 1);
      const busiest = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP_KEYS);
      logger.info(
        { shardId: shard.shardId, records: records.length, keys: counts.size, busiest: Object.fromEntries(busiest) },
        'batch counted',
      );
      await checkpointer.checkpoint();
    },
    async shardEnded({ checkpointer }) {
      await checkpointer.checkpoint();
    },
    async shutdownRequested({ checkpointer }) {
      await checkpointer.checkpoint();
    },
  };
};

export default processorFactory;
