import { RedisScalingHistory, RedisTrafficStore } from '@shoal/autoscaler';
import { uniqueName } from '@shoal/local-stack';
import { describe, expect, it } from 'vitest';
import { shoalInProcess } from './support/run-cli.js';
import { SHARED_REDIS_URL, useSharedRedis } from './support/shared-redis.js';
import { useLocalStack } from './support/worker-harness.js';

/** `shoal autoscale --once`: plans from the traffic windows in Redis and prints the plan with its reasons. */
const local = useLocalStack();
const redis = useSharedRedis();

describe('shoal autoscale', () => {
  it('plans a scale-up from the windows in Redis, and in a dry run changes nothing but the history', async () => {
    const stack = local.stack();
    const streamName = uniqueName('autoscale-cli');
    await stack.createStream(streamName, 2);
    // Two whole minutes that each put 3 MiB/s: 3 shards' worth, on 2.
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const store = new RedisTrafficStore({ redis: redis() });
    for (const at of [minute - 120_000, minute - 60_000]) {
      await store.add(streamName, 'producer', [
        {
          shardId: 'shardId-000000000000',
          minute: at,
          incomingBytes: 180 * 1_048_576,
          incomingRecords: 60_000,
          outgoingBytes: 0,
          outgoingRecords: 0,
          throttledPuts: 0,
          hashKeyBins: [],
        },
      ]);
    }
    const flags = ['--stream', streamName, '--redis', SHARED_REDIS_URL, '--kinesis-endpoint', stack.endpoints.kinesisEndpoint];
    const planned = await shoalInProcess(['autoscale', ...flags, '--once', '--dry-run']);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout.split('\n')[0]).toBe('scale-up 2 → 4 (steps 4)');
    expect(planned.stdout).toContain('utilisation at or above 88 %');
    const history = await new RedisScalingHistory({ redis: redis() }).recent(streamName, 0);
    expect(history.map((event) => [event.kind, event.from, event.to, event.outcome])).toEqual([['update-shard-count', 2, 4, 'dry-run']]);

    const json = await shoalInProcess(['autoscale', ...flags, '--once', '--dry-run', '--json', '--max-shards', '3']);
    expect(JSON.parse(json.stdout)).toMatchObject({ strategy: 'uniform', openShards: 2, plan: { action: 'scale-up', to: 3 } });
  });

  it('names rules that cannot hold', async () => {
    const stack = local.stack();
    const wrong = await shoalInProcess([
      'autoscale',
      '--stream',
      'orders',
      '--redis',
      SHARED_REDIS_URL,
      '--kinesis-endpoint',
      stack.endpoints.kinesisEndpoint,
      '--up-threshold',
      '50%',
      '--down-threshold',
      '60%',
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('downThreshold: must be 0 or more and below upThreshold (0.5)');
  });
});
