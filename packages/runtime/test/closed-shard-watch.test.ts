import { describe, expect, it } from 'vitest';
import { ClosedShardWatch } from '../src/fan-out/closed-shard-watch.js';
import { capturingLogger } from './fakes/capturing-logger.js';
import { FakeSubscribeClient } from './fakes/fake-subscribe-client.js';
import { manualClock } from './fakes/fleet.js';

/** Every stream lists one shard, closed. */
function everyStreamWithAClosedShard(): FakeSubscribeClient {
  const fake = new FakeSubscribeClient();
  fake.other = async (commandName) => {
    if (commandName === 'ListShardsCommand') {
      return {
        Shards: [{ ShardId: 'shardId-000000000000', SequenceNumberRange: { StartingSequenceNumber: '1', EndingSequenceNumber: '2' } }],
      };
    }
    throw new Error(`unexpected ${commandName}`);
  };
  return fake;
}

describe('ClosedShardWatch', () => {
  it('forgets the shard list of a stream no shard asked about for a long time (a pattern’s streams come and go)', async () => {
    const fake = everyStreamWithAClosedShard();
    const { clock, advance } = manualClock();
    const watch = new ClosedShardWatch({
      kinesis: fake.client,
      intervalMs: 10_000,
      requestTimeoutMs: 1_000,
      clock,
      logger: capturingLogger().logger,
    });
    // A new stream each day.
    for (let day = 0; day < 30; day += 1) {
      expect(await watch.isClosed(`events-${day}`, 'shardId-000000000000')).toBe(true);
      advance(24 * 60 * 60_000);
    }
    const listings = (watch as unknown as { readonly listings: ReadonlyMap<string, unknown> }).listings;
    expect(listings.size).toBeLessThanOrEqual(1);
  });

  it('keeps a bounded number of listings however many streams ask at once', async () => {
    const fake = everyStreamWithAClosedShard();
    const { clock } = manualClock();
    const watch = new ClosedShardWatch({
      kinesis: fake.client,
      intervalMs: 10_000,
      requestTimeoutMs: 1_000,
      clock,
      logger: capturingLogger().logger,
    });
    for (let stream = 0; stream < 1_000; stream += 1) await watch.isClosed(`burst-${stream}`, 'shardId-000000000000');
    const listings = (watch as unknown as { readonly listings: ReadonlyMap<string, unknown> }).listings;
    expect(listings.size).toBeLessThanOrEqual(256);
  });
});
