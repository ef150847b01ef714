import { produceRecords } from '@shoal/local-stack';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbLeaseStore, leaseNamespace } from '@shoal/coordinator';
import { expect, it } from 'vitest';
import { shoalInProcess as shoal } from '../support/run-cli.js';
import { eventually, ownedLeaseCount, useLocalStack } from '../support/worker-harness.js';

const local = useLocalStack();
const SHARD_0 = 'shardId-000000000000';

it('reset with NATS unreachable on an idle owned lease: someone owns and processes it again', async () => {
  const stream = await local.createTestStream(1);
  const [a, b] = await Promise.all(['o-a', 'o-b'].map((workerId) => stream.createWorker({ workerId, nats: { servers: '127.0.0.1:4222' } })));
  void a!.run(); void b!.run();
  await produceRecords({ kinesis: local.stack().kinesis, streamName: stream.streamName, count: 30, batchSize: 10, keyCount: 4, ledger: stream.ledger });
  expect(await stream.ledger.waitForAllProcessed(20_000)).toBe(true);
  const client = new DynamoDBClient(local.stack().clientConfig('dynamodb'));
  const store = new DynamoDbLeaseStore({ client, tableName: stream.leaseTableName });
  const ns = leaseNamespace(stream.applicationName, stream.streamName);
  await eventually(async () => (await store.getLease(ns, SHARD_0))?.checkpoint.type === 'SEQUENCE', 'checkpointed');
  const before = (await store.getLease(ns, SHARD_0))!;
  const result = await shoal(['checkpoint', 'set', '--application', stream.applicationName, '--stream', stream.streamName,
    '--lease-table', stream.leaseTableName, '--dynamodb-endpoint', local.stack().dynamodbEndpoint,
    '--kinesis-endpoint', local.stack().kinesisEndpoint, '--nats', 'nats://127.0.0.1:1', '--connect-timeout-ms', '300',
    '--shard', SHARD_0, '--to', 'TRIM_HORIZON']);
  console.log(result.code, result.stdout, result.stderr);
  expect(result.code, result.stderr).toBe(0);
  const startedAt = Date.now();
  try {
    await eventually(() => stream.ledger.producedIds().every((id) => stream.ledger.timesProcessed(id) === 2), 'records processed again', 40_000);
    await eventually(async () => {
      const l = (await store.getLease(ns, SHARD_0))!;
      return l.leaseOwner !== undefined && l.leaseCounter > before.leaseCounter + 1 && ownedLeaseCount(a!) + ownedLeaseCount(b!) === 1;
    }, 'lease owned again', 10_000);
    console.log('recovered after ms', Date.now() - startedAt);
  } finally {
    console.log('lease now', JSON.stringify(await store.getLease(ns, SHARD_0)), 'owned', ownedLeaseCount(a!), ownedLeaseCount(b!));
    client.destroy();
  }
}, 90_000);
