import { listShards, splitShard } from '@shoal/coordinator';
import { produceRecords } from '@shoal/local-stack';
import { describe, expect, it } from 'vitest';
import { useWorkerProcesses } from './support/fleet-processes.js';
import { streamConsumerNames } from './support/stream-consumers.js';
import { eventually } from './support/worker-harness.js';

/**
 * A fleet reading by enhanced fan-out moves leases as a polling fleet does: a joining worker
 * takes its share by handoff, a SIGKILLed worker's shards are subscribed again by the survivor
 * (whose first subscribes meet the dead one's subscriptions until the server drops them), and a
 * split parent is read to its end before its children. Worker processes on kinesis-local over NATS.
 */
describe('enhanced fan-out fleet on kinesis-local', () => {
  const fleet = useWorkerProcesses({ kinesis: 'kinesis-local', shardLimit: 40 });

  it(
    'hands leases over on join, fails over on a crash and reads through a split, losing nothing and keeping key order',
    { timeout: 180_000 },
    async () => {
      const stream = await fleet.local.createTestStream(4);
      const { ledger, streamName } = stream;
      const kinesis = fleet.local.stack().kinesis;
      const view = await fleet.fleetView(stream);
      const produce = (count: number, idPrefix: string) => produceRecords({ kinesis, streamName, count, keyCount: 24, idPrefix, ledger });

      await produce(200, 'first');
      const first = fleet.spawn(stream, 'efo-1', { fanOutConsumer: 'efo-fleet', logLevel: 'info' });
      expect(await ledger.waitForAllProcessed(60_000)).toBe(true);

      const second = fleet.spawn(stream, 'efo-2', { fanOutConsumer: 'efo-fleet', logLevel: 'info' });
      await eventually(() => view.ownedEvenlyBy(['efo-1', 'efo-2'], [2]), 'the joining worker owns half the leases', 60_000);
      await produce(200, 'joined');
      expect(await ledger.waitForAllProcessed(60_000)).toBe(true);

      first.child.kill('SIGKILL');
      await first.exited;
      await produce(200, 'crashed');
      await eventually(() => view.ownedEvenlyBy(['efo-2'], [4]), 'the survivor owns every lease', 60_000);
      expect(await ledger.waitForAllProcessed(60_000)).toBe(true);

      const [parent] = await listShards(kinesis, streamName);
      await splitShard(kinesis, streamName, parent!.shardId, { pollIntervalMs: 200 });
      await produce(200, 'split');
      expect(await ledger.waitForAllProcessed(90_000)).toBe(true);

      // A crash may repeat what the dead worker had not checkpointed; nothing else repeats or reorders.
      expect(ledger.summary()).toMatchObject({ produced: 800, lost: 0, outOfOrder: 0 });
      expect(await streamConsumerNames(kinesis, streamName)).toEqual(['efo-fleet:ACTIVE']);
      // The survivor found the parent's end by fan-out (kinesis-local never ends the subscription).
      expect(second.logs.some((line) => line.msg === 'the closed shard was read to its end')).toBe(true);
    },
  );
});
