import { setTimeout as sleep } from 'node:timers/promises';
import { KinesisClient, ListShardsCommand, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterEach, describe, expect, it } from 'vitest';
import type { SubscribeToShardFetcher } from '../src/fan-out/subscribe-to-shard-fetcher.js';
import { subscriptionClient } from '../src/fan-out/subscription-client.js';
import { LoopbackEventStreamServer, type EventStreamAnswer } from './fakes/event-stream-server.js';
import { createTestFetcher, type TestFetcherOverrides } from './fakes/test-fetcher.js';

/** A client config as for an emulator: plain HTTP/1.1 through `NodeHttpHandler` (50 sockets by default), no retries. */
function http1Config(endpoint: string): KinesisClientConfig {
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  };
}

const shardId = (index: number) => `shardId-${String(index).padStart(12, '0')}`;

/** Polls `condition` every 50 ms for up to `timeoutMs`; resolves whether it held. */
async function eventually(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  for (let waits = 0; waits < timeoutMs / 50 && !condition(); waits += 1) await sleep(50);
  return condition();
}

/**
 * SubscribeToShardFetcher with the real SDK client over HTTP/1.1 (`NodeHttpHandler`, as against
 * kinesis-local) and a loopback server speaking the event-stream encoding.
 */
describe('subscriptions through the real SDK client over HTTP/1.1', () => {
  let server: LoopbackEventStreamServer | undefined;
  const fetchers: SubscribeToShardFetcher[] = [];
  const clients: KinesisClient[] = [];
  afterEach(async () => {
    await Promise.all(fetchers.splice(0).map((fetcher) => fetcher.stop()));
    for (const client of clients.splice(0)) client.destroy();
    await server?.stop();
    server = undefined;
  });

  /** Starts the server and a client for it. */
  async function serve(
    answer: EventStreamAnswer,
    eventEveryMs = 200,
  ): Promise<{ server: LoopbackEventStreamServer; config: KinesisClientConfig }> {
    server = new LoopbackEventStreamServer({ answer, eventEveryMs });
    const config = http1Config(await server.start());
    return { server, config };
  }

  function startFetchers(client: KinesisClient, count: number, overrides: TestFetcherOverrides = {}): void {
    for (let index = 0; index < count; index += 1) {
      const fetcher = createTestFetcher(client, { shardId: shardId(index), ...overrides });
      fetchers.push(fetcher);
      fetcher.start();
    }
  }

  function clientFor(config: KinesisClientConfig): KinesisClient {
    const client = new KinesisClient(config);
    clients.push(client);
    return client;
  }

  it('subscribes, and closes the connection when the fetcher stops', async () => {
    const { server, config } = await serve('events');
    startFetchers(clientFor(config), 3);
    expect(await eventually(() => server.openSubscriptions === 3, 5_000)).toBe(true);
    await Promise.all(fetchers.map((fetcher) => fetcher.stop()));
    expect(await eventually(() => server.openSubscriptions === 0, 2_000)).toBe(true);
    expect(server.subscriptions).toHaveLength(3);
  });

  it('drops a subscription that goes silent for maxEventGapMs, and subscribes again', async () => {
    const { server, config } = await serve('first-event-only');
    startFetchers(clientFor(config), 1, { timings: { maxEventGapMs: 500 } });
    expect(await eventually(() => server.subscriptions.length >= 3, 5_000)).toBe(true);
    expect(server.openSubscriptions).toBeLessThanOrEqual(1);
  });

  it('gives up on a subscribe answered with headers only after the request timeout, and subscribes again', async () => {
    const { server, config } = await serve('headers-only');
    startFetchers(clientFor(config), 1, { requestTimeoutMs: 500 });
    expect(await eventually(() => server.subscriptions.length >= 3, 5_000)).toBe(true);
    expect(server.openSubscriptions).toBeLessThanOrEqual(1);
  });

  describe('the worker’s default subscription client, from an HTTP/1.1 client config', () => {
    /** What the worker builds from its `kinesis` config: its own client, and the one subscriptions go through. */
    function workerClients(config: KinesisClientConfig): { workerClient: KinesisClient; subscribeClient: KinesisClient } {
      const subscriptions = subscriptionClient(config);
      expect(subscriptions.owned).toBe(true);
      clients.push(subscriptions.client);
      return { workerClient: clientFor(config), subscribeClient: subscriptions.client };
    }

    const subscribedShards = (server: LoopbackEventStreamServer) =>
      new Set(server.subscriptions.filter((subscription) => !subscription.closed).map((subscription) => subscription.shardId)).size;

    it('keeps every shard of a worker with more than 50 leases subscribed', async () => {
      const { server, config } = await serve('events');
      const { workerClient, subscribeClient } = workerClients(config);
      startFetchers(subscribeClient, 60, { kinesis: workerClient });
      expect(await eventually(() => subscribedShards(server) === 60, 10_000)).toBe(true);
    });

    it('leaves the worker’s own client a connection for its other calls while 50 leases are subscribed', async () => {
      const { server, config } = await serve('events');
      const { workerClient, subscribeClient } = workerClients(config);
      startFetchers(subscribeClient, 50, { kinesis: workerClient });
      expect(await eventually(() => subscribedShards(server) === 50, 10_000)).toBe(true);
      // What shard sync does every shardSyncIntervalMs through the worker's client.
      const answer = await Promise.race([
        workerClient.send(new ListShardsCommand({ StreamName: 'stream' })).then(() => 'answered'),
        sleep(5_000).then(() => 'no answer within 5 s'),
      ]);
      expect(answer).toBe('answered');
    });

    it('is the worker’s client itself when the worker was given a ready client', () => {
      const client = clientFor(http1Config('http://127.0.0.1:1'));
      expect(subscriptionClient(client)).toEqual({ client, owned: false });
    });
  });
});
