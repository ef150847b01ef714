import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NatsCoordinationBus, connectNats, type NatsLink } from '@shoal/coordinator';
import type { Worker } from '@shoal/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetView } from './support/fleet.js';
import { countingDynamoDb, type DynamoDbCall } from './support/counting-dynamodb.js';
import { eventually, ownedLeaseCount, silentLogger, useLocalStack, type TestStream } from './support/worker-harness.js';

/**
 * What a fleet on the coordination bus asks of DynamoDB, counted call by call on real servers:
 * one writer creates the leases, and only the leader reads the whole namespace.
 */
const local = useLocalStack();
const links: NatsLink[] = [];
const clients: DynamoDBClient[] = [];

afterEach(async () => {
  for (const link of links.splice(0)) await link.close();
  for (const client of clients.splice(0)) client.destroy();
});

interface CountedWorker {
  readonly workerId: string;
  readonly worker: Worker;
  readonly calls: DynamoDbCall[];
}

async function countedWorker(stream: TestStream, workerId: string): Promise<CountedWorker> {
  const link = connectNats({ servers: '127.0.0.1:4222', name: workerId, logger: silentLogger });
  links.push(link);
  expect(await link.ready(3_000)).toBe(true);
  const { client, calls } = countingDynamoDb(local.stack());
  clients.push(client);
  const coordinationBus = new NatsCoordinationBus({
    link,
    application: stream.applicationName,
    streamName: stream.streamName,
    logger: silentLogger,
  });
  const worker = await stream.createWorker({ workerId, coordinationBus, dynamoDb: client });
  void worker.run();
  return { workerId, worker, calls };
}

const namespaceReads = (calls: readonly DynamoDbCall[]) => calls.filter((call) => call.operation === 'Query' && !call.indexName).length;

describe('a fleet on the coordination bus, counted call by call', () => {
  it('creates each lease with one write, by the leader alone, and only the leader reads the whole namespace', async () => {
    const stream = await local.createTestStream(12);
    const fleet: CountedWorker[] = [];
    for (const workerId of ['reads-a', 'reads-b', 'reads-c']) fleet.push(await countedWorker(stream, workerId));
    const view = await FleetView.open(local.stack(), stream);
    try {
      await eventually(() => view.ownedEvenlyBy(['reads-a', 'reads-b', 'reads-c'], [4]), 'three workers holding 4 leases each');
      await eventually(() => fleet.every(({ worker }) => ownedLeaseCount(worker) === 4), 'every lease running');
      // A fleet can balance through the table before the members' first grants arrive; the
      // steady state begins once every worker lives on the leader's grants.
      await eventually(
        async () => (await view.read()).workers.every((record) => record.liveness === 'nats'),
        'every worker on leader grants',
      );
      const leaderId = await view.leaderId();
      const leader = fleet.find(({ workerId }) => workerId === leaderId)!;
      const members = fleet.filter((member) => member !== leader);

      const leaseCreations = fleet.map(
        ({ calls }) => calls.filter((call) => call.operation === 'PutItem' && call.itemKind === 'lease').length,
      );
      expect(leaseCreations.reduce((sum, count) => sum + count, 0)).toBe(12);
      expect(leaseCreations.filter((count) => count > 0)).toHaveLength(1);
      expect(leader.calls.filter((call) => call.operation === 'PutItem' && call.itemKind === 'lease')).toHaveLength(12);
      // From their start: a worker starting with a bus reads the leadership row until it knows the
      // leader, then waits for its grant; only the leader reads the namespace (it fills it).
      for (const member of members) expect(namespaceReads(member.calls)).toBe(0);

      // Steady state, 4 s of it: lease syncs run every 200 ms. The members hear the leader, so
      // they read no namespace; the leader reads it every 5 s and when fleet events ask.
      const marks = fleet.map(({ calls }) => calls.length);
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      const during = fleet.map(({ calls }, index) => calls.slice(marks[index]));
      for (const member of members) expect(namespaceReads(during[fleet.indexOf(member)]!)).toBe(0);
      expect(namespaceReads(during[fleet.indexOf(leader)]!)).toBeLessThanOrEqual(2);
    } finally {
      view.close();
    }
  });
});
