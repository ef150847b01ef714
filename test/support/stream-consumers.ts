import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listStreamConsumers, streamArnOf } from '@shoal/runtime';

/** The stream's registered consumers, as `name:STATUS`. */
export async function streamConsumerNames(kinesis: KinesisClient, streamName: string): Promise<string[]> {
  const consumers = await listStreamConsumers(kinesis, await streamArnOf(kinesis, streamName));
  return consumers.map((consumer) => `${consumer.ConsumerName}:${consumer.ConsumerStatus}`);
}
