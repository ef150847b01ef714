/**
 * A processor module for `shoal worker --processor`, used by the rolling-deploy benchmark: for
 * each record (written by `LoadProducer` as `{ id, key, putAt }`) it appends
 * `<id> <putAt> <processedAt> <shardId> <pid>` to the file named by SHOAL_BENCH_LATENCY_FILE, one
 * write per batch, and checkpoints after every batch.
 */
import { appendFileSync } from 'node:fs';
import type { ShardRecordProcessorFactory } from '@shoal/processor-sdk';

const latencyFile = process.env.SHOAL_BENCH_LATENCY_FILE;

const processorFactory: ShardRecordProcessorFactory = ({ shardId }) => ({
  async processRecords({ records, checkpointer }) {
    const processedAt = Date.now();
    const lines = records.map((record) => {
      const { id, putAt } = JSON.parse(Buffer.from(record.data).toString('utf8')) as { id: string; putAt: number };
      return `${id} ${putAt} ${processedAt} ${shardId} ${process.pid}\n`;
    });
    if (latencyFile) appendFileSync(latencyFile, lines.join(''));
    await checkpointer.checkpoint();
  },
  async shardEnded({ checkpointer }) {
    await checkpointer.checkpoint();
  },
  async shutdownRequested({ checkpointer }) {
    await checkpointer.checkpoint();
  },
});

export default processorFactory;
