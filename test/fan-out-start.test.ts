import { DescribeStreamSummaryCommand, KinesisClient, RegisterStreamConsumerCommand } from '@aws-sdk/client-kinesis';
import { LocalStack, uniqueName } from '@shoal/local-stack';
import { MAX_CONSUMERS_PER_STREAM, StreamConsumerLimitError, Worker, type WorkerOptions } from '@shoal/runtime';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { streamConsumerNames } from './support/stream-consumers.js';
import { FAST_TIMINGS, eventually, ownedLeaseCount, processorWith, silentLogger } from './support/worker-harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How an enhanced fan-out worker starts on kinesis-local: it registers its stream consumer and
 * waits until it is ACTIVE before it takes a lease, riding out the throttling and slow answers
 * a fleet starting at once meets; a stream that cannot take another consumer fails the start
 * before any lease is taken; and a shutdown while it waits stops it at once.
 */
describe.concurrent('starting an enhanced fan-out worker', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await LocalStack.start({ kinesis: 'kinesis-local', shardLimit: 40 });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  });

  /** A Kinesis client for the stack, destroyed on disposal. */
  function kinesisClient(): KinesisClient & Disposable {
    const client = new KinesisClient(stack.clientConfig('kinesis'));
    return Object.assign(client, { [Symbol.dispose]: () => client.destroy() });
  }

  /** A worker of a new application reading by enhanced fan-out as `consumerName`. */
  function fanOutWorker(consumerName: string, options: Partial<WorkerOptions> & Pick<WorkerOptions, 'kinesis'>): Promise<Worker> {
    return Worker.create({
      applicationName: uniqueName('app'),
      leaseTableName: uniqueName('leases'),
      dynamoDb: stack.clientConfig('dynamodb'),
      logger: silentLogger,
      ...FAST_TIMINGS,
      fanOut: { consumerName },
      processorFactory: () => processorWith(async () => {}),
      ...options,
    });
  }

  /**
   * Answers the client's DescribeStreamConsumer attempts through `fault` (once per attempt,
   * inside the SDK's retries), which passes them on to the server or not.
   */
  function onDescribeStreamConsumer(
    kinesis: KinesisClient,
    fault: (attempt: number, pass: () => Promise<unknown>) => Promise<unknown>,
  ): () => number {
    let attempts = 0;
    kinesis.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'DescribeStreamConsumerCommand') return next(args);
        attempts += 1;
        return (await fault(attempts, () => next(args))) as Awaited<ReturnType<typeof next>>;
      },
      { step: 'deserialize', priority: 'high' },
    );
    return () => attempts;
  }

  describe('with transient errors while it registers its stream consumer', () => {
    /** Starts a worker on a new one-shard stream; resolves once it owns the lease, or how it failed. */
    async function startOnNewStream(
      consumerName: string,
      kinesis: KinesisClient,
    ): Promise<{ ownedLeases: number; error?: string; consumers: string[] }> {
      const streamName = uniqueName('fan-out-start');
      await stack.createStream(streamName, 1);
      await using worker = await fanOutWorker(consumerName, { streamName, kinesis, kinesisRequestTimeoutMs: 2_000 });
      let error: string | undefined;
      const running = worker.run().catch((failure: unknown) => void (error = (failure as Error).name));
      await eventually(() => ownedLeaseCount(worker) > 0 || error !== undefined, 'the worker owns its lease or fails', 30_000).catch(
        () => undefined,
      );
      const result = {
        ownedLeases: ownedLeaseCount(worker),
        ...(error ? { error } : {}),
        consumers: await streamConsumerNames(stack.kinesis, streamName),
      };
      await worker.shutdown();
      await running;
      return result;
    }

    it('registers its stream consumer and takes its lease', async ({ expect }) => {
      using kinesis = kinesisClient();
      expect(await startOnNewStream('plain-start', kinesis)).toEqual({ ownedLeases: 1, consumers: ['plain-start:ACTIVE'] });
    });

    it('survives a DescribeStreamConsumer throttled on every attempt the SDK makes', async ({ expect }) => {
      using kinesis = kinesisClient();
      // The SDK's default retry makes three attempts of one call: all three are throttled.
      const attempts = onDescribeStreamConsumer(kinesis, async (attempt, pass) => {
        if (attempt <= 3) throw Object.assign(new Error('Rate exceeded for consumer'), { name: 'LimitExceededException', $metadata: {} });
        return pass();
      });
      expect(await startOnNewStream('throttled-start', kinesis)).toEqual({ ownedLeases: 1, consumers: ['throttled-start:ACTIVE'] });
      expect(attempts()).toBeGreaterThan(3);
    });

    it('survives a DescribeStreamConsumer answered after the request timeout', async ({ expect }) => {
      using kinesis = kinesisClient();
      const attempts = onDescribeStreamConsumer(kinesis, async (attempt, pass) => {
        if (attempt === 1) await sleep(2_500);
        return pass();
      });
      expect(await startOnNewStream('slow-start', kinesis)).toEqual({ ownedLeases: 1, consumers: ['slow-start:ACTIVE'] });
      expect(attempts()).toBeGreaterThan(1);
    });
  });

  it('fails the start before taking a lease when a stream its pattern matches already has 20 other consumers', async ({ expect }) => {
    const streamName = uniqueName('full-stream');
    await stack.createStream(streamName, 1);
    const { StreamDescriptionSummary } = await stack.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    for (let index = 0; index < MAX_CONSUMERS_PER_STREAM; index += 1) {
      await stack.kinesis.send(
        new RegisterStreamConsumerCommand({ StreamARN: StreamDescriptionSummary!.StreamARN, ConsumerName: `other-${index}` }),
      );
    }
    await using worker = await fanOutWorker('one-too-many', {
      streamPattern: new RegExp(`^${streamName}$`),
      kinesis: { ...stack.clientConfig('kinesis'), maxAttempts: 1 },
    });
    const outcome = worker.run().then(
      () => 'stopped',
      (error: unknown) => error,
    );
    const settled = await Promise.race([outcome, sleep(20_000).then(() => 'still running after 20 s')]);
    expect(settled).toBeInstanceOf(StreamConsumerLimitError);
    expect(worker.leases()).toEqual([]);
    // Nothing was registered past the limit.
    expect(await streamConsumerNames(stack.kinesis, streamName)).toHaveLength(MAX_CONSUMERS_PER_STREAM);
  });

  it('stops within seconds when shut down while its stream consumer is CREATING', async ({ expect }) => {
    const streamName = uniqueName('creating');
    await stack.createStream(streamName, 1);
    using kinesis = kinesisClient();
    // The consumer stays CREATING (on AWS it takes seconds, longer when many register at once).
    onDescribeStreamConsumer(kinesis, async () => ({
      output: { ConsumerDescription: { ConsumerName: 'creating', ConsumerARN: 'arn:consumer', ConsumerStatus: 'CREATING' }, $metadata: {} },
      response: {},
    }));
    await using worker = await fanOutWorker('creating', { streamName, kinesis });
    const running = worker.run().then(
      () => 'stopped',
      (error: unknown) => error,
    );
    await eventually(() => worker.state === 'starting', 'the worker is starting');
    await sleep(1_000);
    const shutdownAt = performance.now();
    const outcome = await Promise.race([worker.shutdown().then(() => 'shut down'), sleep(10_000).then(() => 'still starting after 10 s')]);
    expect(outcome).toBe('shut down');
    expect(performance.now() - shutdownAt).toBeLessThan(5_000);
    expect(await running).toBe('stopped');
    expect(worker.leases()).toEqual([]);
  });
});
