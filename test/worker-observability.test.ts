import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  NatsLeaseStatePublisher,
  RedisShardReadBudget,
  connectNats,
  leaseStateBucket,
  leaseStateSubject,
  type LeaseStateSnapshot,
  type NatsLink,
} from '@shoal/coordinator';
import { LocalStack, produceRecords } from '@shoal/local-stack';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { injectFaults } from './support/fault-injection.js';
import { createTestStream, eventually, silentLogger, type TestStream } from './support/worker-harness.js';

let stack: LocalStack;
let nats: NatsConnection;
let redis: Redis;
let current: TestStream | undefined;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  stack = await LocalStack.start();
  nats = await connect({ servers: '127.0.0.1:4222', name: 'shoal-test-observer' });
  redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
});
afterEach(async () => {
  await current?.close();
  current = undefined;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await nats.close();
  redis.disconnect();
  await stack.stop();
});

describe('a worker with NATS and Redis', () => {
  it('publishes every lease machine transition and keeps the current state in a KV bucket', async () => {
    const stream = (current = await createTestStream(stack, 2));
    const link: NatsLink = connectNats({ servers: '127.0.0.1:4222', logger: silentLogger });
    expect(await link.ready(5_000)).toBe(true);
    const publisher = NatsLeaseStatePublisher.create({ link, application: stream.applicationName, logger: silentLogger });
    cleanups.push(
      () => link.close(),
      () => publisher.close(),
      async () => (await new Kvm(nats).open(leaseStateBucket(stream.applicationName))).destroy().catch(() => undefined),
    );

    const transitions = new Map<string, string[]>();
    const subscription = nats.subscribe(leaseStateSubject(stream.applicationName));
    cleanups.push(async () => subscription.unsubscribe());
    void (async () => {
      for await (const message of subscription) {
        const snapshot = message.json<LeaseStateSnapshot>();
        transitions.set(snapshot.shardId, [...(transitions.get(snapshot.shardId) ?? []), snapshot.state]);
      }
    })();

    const worker = await stream.createWorker({ workerId: 'observed', leaseStatePublisher: publisher });
    const running = worker.run();
    await produceRecords({ kinesis: stack.kinesis, streamName: stream.streamName, count: 200, ledger: stream.ledger });
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
    await worker.shutdown();
    await running;

    await eventually(
      () => [...transitions.values()].every((states) => states.at(-1) === 'ended') && transitions.size === 2,
      'both leases ended',
    );
    // Checkpoint changes within a state are published too; compare the sequence of states.
    for (const states of transitions.values()) {
      expect(states.filter((state, index) => state !== states[index - 1])).toEqual([
        'pending.acquiring',
        'owned.initializing',
        'owned.processing',
        'draining',
        'releasing',
        'ended',
      ]);
    }
    const kv = await new Kvm(nats).open(leaseStateBucket(stream.applicationName));
    const keys: string[] = [];
    for await (const key of await kv.keys()) keys.push(key);
    expect(keys).toHaveLength(2);
    const latest = (await kv.get(keys[0]!))?.json<LeaseStateSnapshot>();
    expect(latest).toMatchObject({ state: 'ended', reason: 'released', workerId: 'observed', streamName: stream.streamName });
  });

  it('keeps GetRecords within the per-shard budget shared through Redis', async () => {
    const stream = (current = await createTestStream(stack, 1));
    const budget = new RedisShardReadBudget({
      redis,
      keyPrefix: `shoal-test:${stream.streamName}`,
      callsPerSecond: 5,
      logger: silentLogger,
    });
    cleanups.push(() => budget.close());
    const kinesis = stream.createKinesisClient();
    const { log } = injectFaults(kinesis, () => undefined);
    // Tiny batches and no idle wait: without the budget this would poll hundreds of times a second.
    const worker = await stream.createWorker({
      kinesis,
      readBudget: budget,
      retrieval: {
        maxRecordsPerCall: 20,
        idleTimeBetweenReadsMs: 0,
        retryBaseMs: 10,
        retryMaxMs: 100,
        maxBufferedRecords: 1_000,
        maxBufferedBytes: 1 << 20,
      },
    });
    await produceRecords({ kinesis: stack.kinesis, streamName: stream.streamName, count: 200, ledger: stream.ledger });
    void worker.run();
    expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);

    const reads = log.filter((entry) => entry.command === 'GetRecordsCommand').map((entry) => entry.at);
    expect(reads.length).toBeGreaterThanOrEqual(10);
    // A full bucket allows one burst of 5, then 5 per second: never more than 10 in a second.
    const busiestSecond = Math.max(...reads.map((start) => reads.filter((at) => at >= start && at < start + 1_000).length));
    expect(busiestSecond).toBeLessThanOrEqual(10);
    expect(stream.ledger.summary()).toMatchObject({ lost: 0, duplicates: 0 });
  });
});
