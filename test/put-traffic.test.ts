import { KinesisClient, PutRecordCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { RedisTrafficStore, recordPutTraffic, streamMinutes } from '@shoal/autoscaler';
import { uniqueName } from '@shoal/local-stack';
import { describe, expect, it } from 'vitest';
import { useSharedRedis } from './support/shared-redis.js';
import { useLocalStack } from './support/worker-harness.js';

/** A producer's client counted into the traffic store: records per shard, and puts refused for throughput. */
const local = useLocalStack();
const redis = useSharedRedis();

describe('recordPutTraffic', () => {
  it('counts what a producer puts per shard, and its throttled puts, into the traffic store', async () => {
    const stack = local.stack();
    const streamName = uniqueName('put-traffic');
    await stack.createStream(streamName, 2);
    const store = new RedisTrafficStore({ redis: redis(), keyPrefix: uniqueName('traffic') });
    const producer = new KinesisClient(stack.clientConfig('kinesis'));
    // kinesalite never throttles: the next two PutRecord attempts are refused as Kinesis would (the SDK retries them).
    let refusals = 2;
    producer.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutRecordCommand' && refusals-- > 0) {
          throw Object.assign(new Error('Rate exceeded for shard'), { name: 'ProvisionedThroughputExceededException' });
        }
        return next(args);
      },
      { step: 'deserialize', name: 'injectThrottling' },
    );
    const recorder = recordPutTraffic(producer, { sink: store, producer: 'orders-api' });
    try {
      const started = Date.now();
      const records = Array.from({ length: 300 }, (_, index) => ({ PartitionKey: `key-${index}`, Data: Buffer.alloc(100) }));
      await producer.send(new PutRecordsCommand({ StreamName: streamName, Records: records }));
      await producer.send(new PutRecordCommand({ StreamName: streamName, PartitionKey: 'single', Data: Buffer.alloc(10) }));
      await recorder.flush();

      const windows = await store.shardMinutes(streamName, started - 60_000, Date.now() + 60_000);
      const perShard = windows.filter((window) => window.shardId !== '*');
      expect(new Set(perShard.map((window) => window.shardId)).size).toBe(2);
      expect(perShard.reduce((sum, window) => sum + window.incomingRecords, 0)).toBe(301);
      expect(perShard.reduce((sum, window) => sum + window.incomingBytes, 0)).toBe(
        records.reduce((sum, record) => sum + 100 + record.PartitionKey.length, 0) + 10 + 'single'.length,
      );
      const minutes = streamMinutes(windows, started - 60_000, Date.now() + 60_000);
      expect(minutes.reduce((sum, minute) => sum + (minute.throttledPuts ?? 0), 0)).toBe(2);
    } finally {
      await recorder.close();
      producer.destroy();
    }
  });
});
