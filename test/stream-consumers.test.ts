import { DescribeStreamSummaryCommand, KinesisClient, RegisterStreamConsumerCommand } from '@aws-sdk/client-kinesis';
import { LocalStack, uniqueName } from '@shoal/local-stack';
import {
  MAX_CONSUMERS_PER_STREAM,
  StreamConsumerLimitError,
  StreamConsumers,
  Worker,
  deregisterStreamConsumer,
  systemClock,
} from '@shoal/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamConsumerNames } from './support/stream-consumers.js';
import { FAST_TIMINGS, processorWith, silentLogger } from './support/worker-harness.js';

/**
 * Registering the application's stream consumer for enhanced fan-out, on kinesis-local (which
 * enforces the 20-consumer limit, not the account's 5 registrations a second).
 */
describe('stream consumer registration', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await LocalStack.start({ kinesis: 'kinesis-local', shardLimit: 40 });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const registry = (kinesis: KinesisClient = stack.kinesis, consumerName = 'app') =>
    new StreamConsumers({ kinesis, consumerName, requestTimeoutMs: 5_000, clock: systemClock, logger: silentLogger });

  it('is idempotent across workers racing to register the same name', { timeout: 60_000 }, async () => {
    const streamName = uniqueName('race');
    await stack.createStream(streamName, 1);
    const arns = await Promise.all([1, 2, 3].map(() => registry().consumerArn(streamName)));
    expect(new Set(arns).size).toBe(1);
    expect(await streamConsumerNames(stack.kinesis, streamName)).toEqual(['app:ACTIVE']);
    // A worker starting later finds it as it is.
    expect(await registry().consumerArn(streamName)).toBe(arns[0]);
  });

  it('spaces its RegisterStreamConsumer calls to 5 a second', { timeout: 60_000 }, async () => {
    const streams = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (index) => {
        const streamName = uniqueName(`spaced-${index}`);
        await stack.createStream(streamName, 1);
        return streamName;
      }),
    );
    const kinesis = new KinesisClient(stack.clientConfig('kinesis'));
    const registeredAt: number[] = [];
    kinesis.middlewareStack.add(
      (next, context) => (args) => {
        if (context.commandName === 'RegisterStreamConsumerCommand') registeredAt.push(performance.now());
        return next(args);
      },
      { step: 'initialize' },
    );
    try {
      const consumers = registry(kinesis);
      await Promise.all(streams.map((streamName) => consumers.consumerArn(streamName)));
    } finally {
      kinesis.destroy();
    }
    expect(registeredAt).toHaveLength(streams.length);
    const gaps = registeredAt.slice(1).map((at, index) => at - registeredAt[index]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(195);
  });

  it('fails the worker’s start with a clear error when the stream already has 20 other consumers', { timeout: 90_000 }, async () => {
    const streamName = uniqueName('full');
    await stack.createStream(streamName, 1);
    const { StreamDescriptionSummary } = await stack.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    for (let index = 0; index < MAX_CONSUMERS_PER_STREAM; index += 1) {
      await stack.kinesis.send(
        new RegisterStreamConsumerCommand({ StreamARN: StreamDescriptionSummary!.StreamARN, ConsumerName: `other-${index}` }),
      );
    }
    await using worker = await Worker.create({
      applicationName: uniqueName('app'),
      streamName,
      leaseTableName: uniqueName('leases'),
      kinesis: { ...stack.clientConfig('kinesis'), maxAttempts: 1 },
      dynamoDb: stack.clientConfig('dynamodb'),
      logger: silentLogger,
      ...FAST_TIMINGS,
      fanOut: { consumerName: 'one-too-many' },
      processorFactory: () => processorWith(async () => {}),
    });
    const failure = await worker.run().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(StreamConsumerLimitError);
    expect((failure as Error).message).toContain(`cannot register stream consumer one-too-many on stream ${streamName}`);
    expect((failure as Error).message).toContain('other-0');
    expect(worker.state).toBe('failed');
    expect(worker.leases()).toEqual([]);
  });

  it('deregisters only when asked', { timeout: 60_000 }, async () => {
    const streamName = uniqueName('deregister');
    await stack.createStream(streamName, 1);
    await registry(stack.kinesis, 'retired').consumerArn(streamName);
    expect(await deregisterStreamConsumer(stack.kinesis, streamName, 'retired')).toBe(true);
    expect(await streamConsumerNames(stack.kinesis, streamName)).toEqual([]);
    expect(await deregisterStreamConsumer(stack.kinesis, streamName, 'retired')).toBe(false);
  });
});
