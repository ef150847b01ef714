import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NatsCoordinationBus, connectNats, type NatsLink } from '@shoal/coordinator';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, ownedLeaseCount, silentLogger, useLocalStack } from './support/worker-harness.js';

/**
 * A plan can give one worker hundreds of leases at once; the worker carries out at most 8 of
 * those takes at a time, each from its read to its conditional acquire's answer, so a cold start
 * does not ask the namespace's one partition for all of them at once. On dynalite and NATS.
 */
const local = useLocalStack();
const links: NatsLink[] = [];
const clients: DynamoDBClient[] = [];
afterEach(async () => {
  for (const link of links.splice(0)) await link.close();
  for (const client of clients.splice(0)) client.destroy();
});

describe('a cold start on the bus, with a slow table', () => {
  it('keeps at most 8 planned acquires in flight per worker, and takes every lease', async () => {
    const stream = await local.createTestStream(30);
    const client = new DynamoDBClient(local.stack().clientConfig('dynamodb'));
    clients.push(client);
    let acquiring = 0;
    let mostAcquiring = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { UpdateExpression?: string };
        // The acquire is the update that stamps `ownerSince`.
        const isAcquire = /Update/.test(context.commandName ?? '') && (input.UpdateExpression ?? '').includes('ownerSince = :now');
        if (!isAcquire) return next(args);
        acquiring += 1;
        mostAcquiring = Math.max(mostAcquiring, acquiring);
        try {
          // A partition under load: each conditional write takes 400 ms.
          await new Promise((resolve) => setTimeout(resolve, 400));
          return await next(args);
        } finally {
          acquiring -= 1;
        }
      },
      { step: 'initialize', name: 'slowAcquires' },
    );
    const link = connectNats({ servers: '127.0.0.1:4222', name: 'takes-a', logger: silentLogger });
    links.push(link);
    expect(await link.ready(3_000), 'NATS at 127.0.0.1:4222 must answer').toBe(true);
    const coordinationBus = new NatsCoordinationBus({
      link,
      application: stream.applicationName,
      streamName: stream.streamName,
      logger: silentLogger,
    });
    // The default lease sync interval: the leader plans for itself, and its own pick-up of leases free for long stays out of the way.
    const worker = await stream.createWorker({ workerId: 'takes-a', coordinationBus, dynamoDb: client, leaseSyncIntervalMs: 1_000 });
    void worker.run();
    await eventually(() => ownedLeaseCount(worker) === 30, 'the one worker runs all 30 leases', 40_000);
    expect(mostAcquiring).toBeGreaterThan(1);
    expect(mostAcquiring).toBeLessThanOrEqual(8);
  });
});
