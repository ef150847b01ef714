import { DescribeStreamSummaryCommand, ListStreamConsumersCommand, type KinesisClient } from '@aws-sdk/client-kinesis';

/** The stream's registered consumers, as `name:STATUS`. */
export async function streamConsumerNames(kinesis: KinesisClient, streamName: string): Promise<string[]> {
  const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
  const { Consumers } = await kinesis.send(new ListStreamConsumersCommand({ StreamARN: StreamDescriptionSummary!.StreamARN }));
  return (Consumers ?? []).map((consumer) => `${consumer.ConsumerName}:${consumer.ConsumerStatus}`);
}
