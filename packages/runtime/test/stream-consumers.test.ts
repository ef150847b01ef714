import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import { StreamConsumers } from '../src/fan-out/stream-consumers.js';
import { capturingLogger } from './fakes/capturing-logger.js';
import { FakeSubscribeClient } from './fakes/fake-subscribe-client.js';
import { manualClock } from './fakes/fleet.js';
import { createTestFetcher } from './fakes/test-fetcher.js';

/** A stream whose consumer stays CREATING: every caller waits on the one registration. */
function consumerCreatingForever(): { fake: FakeSubscribeClient; consumers: StreamConsumers } {
  const fake = new FakeSubscribeClient();
  fake.other = async (commandName) => {
    if (commandName === 'DescribeStreamSummaryCommand') return { StreamDescriptionSummary: { StreamARN: 'arn:stream' } };
    if (commandName === 'DescribeStreamConsumerCommand') {
      return { ConsumerDescription: { ConsumerARN: 'arn:consumer', ConsumerStatus: 'CREATING' } };
    }
    throw new Error(`unexpected ${commandName}`);
  };
  const consumers = new StreamConsumers({
    kinesis: fake.client,
    consumerName: 'app',
    requestTimeoutMs: 1_000,
    clock: systemClock,
    logger: capturingLogger().logger,
  });
  return { fake, consumers };
}

/** Every stream has its consumer ACTIVE, with an ARN named after the stream. */
function consumersActiveOnEveryStream(clock = systemClock): StreamConsumers {
  const fake = new FakeSubscribeClient();
  fake.other = async (commandName, input) => {
    if (commandName === 'DescribeStreamSummaryCommand') {
      return { StreamDescriptionSummary: { StreamARN: `arn:${String(input.StreamName)}` } };
    }
    if (commandName === 'DescribeStreamConsumerCommand') {
      return { ConsumerDescription: { ConsumerARN: `${String(input.StreamARN)}/consumer`, ConsumerStatus: 'ACTIVE' } };
    }
    throw new Error(`unexpected ${commandName}`);
  };
  return new StreamConsumers({
    kinesis: fake.client,
    consumerName: 'app',
    requestTimeoutMs: 1_000,
    clock,
    logger: capturingLogger().logger,
  });
}

/** The streams whose consumer ARN is kept. */
function keptStreams(consumers: StreamConsumers): number {
  return (consumers as unknown as { readonly arns: ReadonlyMap<string, unknown> }).arns.size;
}

describe('StreamConsumers', () => {
  describe('a registration shared by the leases of one stream', () => {
    it('lets a lease stop at once while the registration another lease started is still waiting', async () => {
      const { fake, consumers } = consumerCreatingForever();
      const consumerArn = (signal: AbortSignal) => consumers.consumerArn('stream', signal);
      const first = createTestFetcher(fake.client, { shardId: 'shardId-000000000000', consumerArn });
      const second = createTestFetcher(fake.client, { shardId: 'shardId-000000000001', consumerArn });
      first.start();
      await sleep(50);
      second.start();
      await sleep(200);
      try {
        // The second lease is handed off: the handoff waits for its source to stop.
        const outcome = await Promise.race([second.stop().then(() => 'stopped'), sleep(3_000).then(() => 'still waiting after 3 s')]);
        expect(outcome).toBe('stopped');
      } finally {
        await first.stop();
        await second.stop();
        consumers.close();
      }
    });

    it('goes on for the other leases when the lease that started it stops', async () => {
      const { fake, consumers } = consumerCreatingForever();
      const { logger, lines } = capturingLogger();
      const consumerArn = (signal: AbortSignal) => consumers.consumerArn('stream', signal);
      const first = createTestFetcher(fake.client, { shardId: 'shardId-000000000000', consumerArn });
      const second = createTestFetcher(fake.client, { shardId: 'shardId-000000000001', logger, consumerArn });
      first.start();
      await sleep(50);
      second.start();
      await sleep(200);
      await first.stop();
      await sleep(300);
      await second.stop();
      consumers.close();
      // Nothing went wrong for the second lease: it was still waiting when it stopped.
      expect(lines.filter((line) => line.level >= 40).map((line) => line.msg)).toEqual([]);
    });
  });

  describe('with a stream pattern over streams that come and go', () => {
    it('forgets the consumer of a stream no lease asked about for a long time', async () => {
      const { clock, advance } = manualClock();
      const consumers = consumersActiveOnEveryStream(clock);
      // A new stream each day.
      for (let day = 0; day < 30; day += 1) {
        await consumers.consumerArn(`events-${day}`);
        advance(24 * 60 * 60_000);
      }
      expect(keptStreams(consumers)).toBeLessThanOrEqual(1);
    });

    it('keeps a bounded number of streams however many are asked about at once', async () => {
      const consumers = consumersActiveOnEveryStream();
      for (let stream = 0; stream < 500; stream += 1) await consumers.consumerArn(`events-${stream}`);
      expect(keptStreams(consumers)).toBeLessThan(500);
      expect(await consumers.consumerArn('events-499')).toBe('arn:events-499/consumer');
    });
  });
});
