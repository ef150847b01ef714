import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../src/clock.js';
import type { FetchResult } from '../src/consumer/fetch-result.js';
import { ClosedShardWatch } from '../src/fan-out/closed-shard-watch.js';
import type { SubscribeToShardFetcher } from '../src/fan-out/subscribe-to-shard-fetcher.js';
import { resolveWorkerOptions } from '../src/worker/worker-options.js';
import { RecordingClock } from './fakes/fake-clock.js';
import { FakeSubscribeClient, awsError, kinesisRecord, positionOf, recordsEvent } from './fakes/fake-subscribe-client.js';
import { createTestFetcher } from './fakes/test-fetcher.js';

/** Reads until `count` records or the shard's end arrive, or `timeoutMs` passes: the positions read, and the child shards at the end. */
async function collect(
  source: SubscribeToShardFetcher,
  count: number,
  timeoutMs: number,
): Promise<{ positions: number[]; end?: readonly string[] }> {
  const positions: number[] = [];
  const deadline = performance.now() + timeoutMs;
  for (let reads = 0; reads < 10_000 && positions.length < count && performance.now() < deadline; reads += 1) {
    const result = await source.next(AbortSignal.timeout(Math.max(1, Math.round(deadline - performance.now())))).catch(() => undefined);
    if (!result) break;
    if (result.type === 'shard-end') return { positions, end: result.childShardIds };
    positions.push(...result.records.map((record) => positionOf(record.data)));
  }
  return { positions };
}

/** What was buffered and not yet taken (stops at the first read that waits `waitMs`). */
async function takeBuffered(source: SubscribeToShardFetcher, waitMs = 50): Promise<FetchResult[]> {
  const taken: FetchResult[] = [];
  for (let reads = 0; reads < 100_000; reads += 1) {
    const result = await source.next(AbortSignal.timeout(waitMs)).catch(() => undefined);
    if (!result) break;
    taken.push(result);
  }
  return taken;
}

/** Keeps taking what the source buffers (a processor keeping up) until the returned function is called. */
function keepTaking(source: SubscribeToShardFetcher): () => Promise<void> {
  let stopped = false;
  const taking = (async () => {
    for (let reads = 0; reads < 10_000 && !stopped; reads += 1) await source.next(AbortSignal.timeout(200)).catch(() => undefined);
  })();
  return async () => {
    stopped = true;
    await taking;
  };
}

const range = (count: number) => Array.from({ length: count }, (_, position) => position);

type MidStreamFault = 'hang' | 'error' | 'end' | 'truncated';

/**
 * A shard of `total` records, served `perEvent` at a time from wherever each subscription starts
 * (TRIM_HORIZON, or after its continuation); the fourth read of every subscription is `fault`, if any.
 */
function servedShard(fake: FakeSubscribeClient, total: number, perEvent: number, fault?: MidStreamFault): void {
  fake.onPull = (subscription, pull) => {
    if (fault && pull === 3) {
      if (fault === 'hang') return { hang: true };
      if (fault === 'error') return { error: awsError('InternalFailureException') };
      if (fault === 'truncated') return { error: new Error('Truncated event message received.') };
      return { end: true };
    }
    const position = subscription.input.StartingPosition!;
    const from = position.Type === 'AFTER_SEQUENCE_NUMBER' ? positionOfSequenceNumber(position.SequenceNumber!) + 1 : 0;
    const start = Math.min(from + pull * perEvent, total);
    return { event: recordsEvent(start, Math.min(perEvent, total - start)), delayMs: 5 };
  };
}

function positionOfSequenceNumber(sequence: string): number {
  return Number(sequence.slice(-10));
}

/** A busy shard: every read answers at once with `perEvent` new records. */
function busyShard(fake: FakeSubscribeClient, perEvent: number): { readonly events: () => number } {
  let next = 0;
  let events = 0;
  fake.onPull = () => {
    events += 1;
    next += perEvent;
    return { event: recordsEvent(next - perEvent, perEvent, 1_000) };
  };
  return { events: () => events };
}

/** A shard with a record every `everyMs`. */
function steadyShard(fake: FakeSubscribeClient, everyMs: number): void {
  let next = 0;
  fake.onPull = () => ({ event: recordsEvent(next++, 1), delayMs: everyMs });
}

describe('SubscribeToShardFetcher', () => {
  describe('when a subscription breaks off mid-stream', () => {
    const faults: [MidStreamFault, string][] = [
      ['hang', 'goes silent for maxEventGapMs'],
      ['error', 'fails with an error event'],
      ['end', 'ends cleanly'],
      ['truncated', 'ends inside a truncated event'],
    ];
    for (const [fault, what] of faults) {
      it(`subscribes again from the last continuation when the subscription ${what}: nothing lost, repeated or reordered`, async () => {
        const fake = new FakeSubscribeClient();
        servedShard(fake, 100, 7, fault);
        const source = createTestFetcher(fake.client, { timings: { maxEventGapMs: 200 } });
        source.start();
        try {
          const { positions } = await collect(source, 100, 10_000);
          expect(positions).toEqual(range(100));
          expect(await takeBuffered(source, 100)).toEqual([]);
          expect(fake.subscriptions.length).toBeGreaterThan(1);
        } finally {
          await source.stop();
        }
      });
    }
  });

  it('subscribes again when a subscribe call is not answered within the request timeout', async () => {
    const fake = new FakeSubscribeClient();
    fake.onSubscribe = (subscription) => (subscription.index === 0 ? 'hang' : 'stream');
    servedShard(fake, 20, 5);
    const source = createTestFetcher(fake.client, { requestTimeoutMs: 300 });
    source.start();
    try {
      const { positions } = await collect(source, 20, 5_000);
      expect(positions).toEqual(range(20));
      expect(fake.subscriptions[0]!.aborted).toBe(true);
    } finally {
      await source.stop();
    }
  });

  it('ends the shard, with its child shards, after the records of an event without a continuation', async () => {
    const fake = new FakeSubscribeClient();
    fake.onPull = (_subscription, pull) =>
      pull === 0
        ? { event: recordsEvent(0, 2) }
        : {
            event: {
              Records: [kinesisRecord(2)],
              ContinuationSequenceNumber: undefined,
              MillisBehindLatest: 0,
              ChildShards: [{ ShardId: 'shardId-000000000001', ParentShards: ['shardId-000000000000'], HashKeyRange: undefined }],
            },
          };
    const source = createTestFetcher(fake.client);
    source.start();
    try {
      expect(await collect(source, 100, 3_000)).toEqual({ positions: [0, 1, 2], end: ['shardId-000000000001'] });
      expect(fake.subscriptions).toHaveLength(1);
      expect(fake.subscriptions[0]!.aborted).toBe(true);
    } finally {
      await source.stop();
    }
  });

  it('leaves no timer or open subscription behind after stop', async () => {
    const fake = new FakeSubscribeClient();
    const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
    const before = timers();
    const source = createTestFetcher(fake.client);
    source.start();
    await sleep(100);
    await source.stop();
    await sleep(10);
    expect(timers()).toBeLessThanOrEqual(before);
    expect(fake.subscriptions.length).toBeGreaterThan(0);
    expect(fake.subscriptions.every((subscription) => subscription.aborted)).toBe(true);
  });

  describe('while the processor takes nothing', () => {
    it('keeps its buffer within one event of its limit across subscription renewals', async () => {
      const fake = new FakeSubscribeClient();
      const shard = busyShard(fake, 10);
      const source = createTestFetcher(fake.client, {
        retrieval: { maxBufferedRecords: 10 },
        // Renewed every 290 s in production: each renewal here stands for 290 s of a stall there.
        timings: { renewSubscriptionAfterMs: 100 },
      });
      source.start();
      try {
        await sleep(1_000);
      } finally {
        // What was buffered stays to be taken after stop.
        await source.stop();
      }
      const records = (await takeBuffered(source)).reduce(
        (sum, result) => sum + (result.type === 'records' ? result.records.length : 0),
        0,
      );
      expect(records).toBeGreaterThanOrEqual(10);
      expect(records).toBeLessThanOrEqual(20);
      expect(shard.events()).toBeLessThanOrEqual(2);
    });

    it('does not subscribe again while its buffer is full', async () => {
      const fake = new FakeSubscribeClient();
      busyShard(fake, 10);
      const source = createTestFetcher(fake.client, { retrieval: { maxBufferedRecords: 10 }, timings: { renewSubscriptionAfterMs: 100 } });
      source.start();
      try {
        await sleep(600);
        expect(fake.subscriptions.length).toBeGreaterThanOrEqual(1);
        expect(fake.subscriptions.length).toBeLessThanOrEqual(2);
      } finally {
        await source.stop();
      }
    });
  });

  it('starts its retry backoff over after a subscription that delivered, also when it ended by renewal', async () => {
    const fake = new FakeSubscribeClient();
    // Five subscribes refused (on a handoff the old owner's subscription is still held), one that
    // delivers until it is renewed, one refused again, then delivering ones.
    fake.onSubscribe = (subscription) =>
      subscription.index < 5 || subscription.index === 6 ? awsError('ResourceInUseException') : 'stream';
    steadyShard(fake, 20);
    const clock = new RecordingClock();
    const source = createTestFetcher(fake.client, {
      clock,
      retrieval: { retryBaseMs: 20, retryMaxMs: 5_000 },
      timings: { renewSubscriptionAfterMs: 100 },
    });
    const stopTaking = keepTaking(source);
    source.start();
    try {
      for (let waits = 0; waits < 100 && fake.subscriptions.length < 8; waits += 1) await sleep(50);
    } finally {
      await source.stop();
      await stopTaking();
    }
    expect(fake.subscriptions.length).toBeGreaterThanOrEqual(8);
    // The fifth refusal in a row waited 160-320 ms; the refusal after the renewed subscription is
    // a first one again: 10-20 ms, not the sixth step of the earlier series (320-640 ms).
    expect(clock.sleeps[4]).toBeGreaterThanOrEqual(160);
    expect(clock.sleeps[5]).toBeLessThanOrEqual(20);
  });

  it('stops at once while it looks whether its shard was closed, without waiting for the shared ListShards', async () => {
    const fake = new FakeSubscribeClient();
    // Caught up: idle events, each a reason to look at the shard list.
    fake.onPull = () => ({ event: recordsEvent(1, 0), delayMs: 20 });
    // ListShards slow to answer (a throttled stream, a slow network).
    fake.other = async (commandName) => {
      if (commandName === 'ListShardsCommand') return new Promise(() => {});
      throw new Error(`unexpected ${commandName}`);
    };
    const closedShards = new ClosedShardWatch({
      kinesis: fake.client,
      intervalMs: 10,
      requestTimeoutMs: 3_000,
      clock: systemClock,
      logger: pino({ level: 'silent' }),
    });
    const source = createTestFetcher(fake.client, { closedShards, requestTimeoutMs: 3_000, timings: { shardEndCheckIntervalMs: 10 } });
    source.start();
    await sleep(300);
    const stoppingAt = performance.now();
    await source.stop();
    expect(performance.now() - stoppingAt).toBeLessThan(500);
  });

  describe('a maxEventGapMs longer than a timer can wait (2^31 - 1 ms)', () => {
    it('is refused by the worker options, which name the field', () => {
      const processorFactory = () => ({ async processRecords() {}, async shardEnded() {}, async shutdownRequested() {} });
      expect(() =>
        resolveWorkerOptions({
          applicationName: 'app',
          streamName: 'stream',
          processorFactory,
          fanOut: { consumerName: 'app', maxEventGapMs: 2 ** 31 },
        }),
      ).toThrow(/maxEventGapMs/);
    });

    it('keeps a healthy subscription instead of making it again every millisecond', async () => {
      const fake = new FakeSubscribeClient();
      steadyShard(fake, 100);
      const source = createTestFetcher(fake.client, { timings: { maxEventGapMs: 2 ** 31 } });
      const stopTaking = keepTaking(source);
      source.start();
      try {
        await sleep(600);
      } finally {
        await source.stop();
        await stopTaking();
      }
      expect(fake.subscriptions).toHaveLength(1);
    });
  });
});
