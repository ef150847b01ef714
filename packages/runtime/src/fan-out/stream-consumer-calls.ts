import { DescribeStreamSummaryCommand, ListStreamConsumersCommand, type Consumer, type KinesisClient } from '@aws-sdk/client-kinesis';
import { ShoalError } from '@shoal/processor-sdk';

/** The stream's ARN, which the stream consumer calls take instead of its name. */
export async function streamArnOf(kinesis: KinesisClient, streamName: string, abortSignal?: AbortSignal): Promise<string> {
  const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }), { abortSignal });
  const arn = StreamDescriptionSummary?.StreamARN;
  if (!arn) throw new ShoalError('KINESIS', `DescribeStreamSummary returned no ARN for stream ${streamName}`);
  return arn;
}

/** Every consumer registered on the stream, all pages. */
export async function listStreamConsumers(kinesis: KinesisClient, streamArn: string, abortSignal?: AbortSignal): Promise<Consumer[]> {
  const consumers: Consumer[] = [];
  let nextToken: string | undefined;
  do {
    const page = await kinesis.send(
      new ListStreamConsumersCommand(nextToken === undefined ? { StreamARN: streamArn } : { StreamARN: streamArn, NextToken: nextToken }),
      { abortSignal },
    );
    consumers.push(...(page.Consumers ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return consumers;
}
