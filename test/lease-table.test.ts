import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
  type KeySchemaElement,
  type ScalarAttributeType,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDbLeaseStore,
  LeaseTableError,
  LeaseTableSchemaError,
  OWNER_INDEX_NAME,
  RequestTimeoutError,
  PARTITION_KEY,
  SORT_KEY,
  ensureLeaseTable,
  leaseNamespace,
  type ConditionalWriteResult,
  type Lease,
  type LeaseOwnership,
} from '@shoal/coordinator';
import { LocalStack, uniqueName } from '@shoal/local-stack';
import type { Checkpoint } from '@shoal/processor-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

// dynalite in a child process (LocalStack); one stack for the file, one table per test.

const SEQ = '49590338271490256608559692538361571095921575989136588898';
const SEQ_LATER = '49590338271490256608559692538361571095921575989136589999';

let stack: LocalStack;
const extraClients: DynamoDBClient[] = [];

beforeAll(async () => {
  stack = await LocalStack.start();
});

afterAll(async () => {
  for (const client of extraClients.splice(0)) client.destroy();
  await stack?.stop();
});

afterEach(() => {
  for (const client of extraClients.splice(0)) client.destroy();
});

/** A fresh client on its own connection pool, as another worker process would have. */
function newClient(): DynamoDBClient {
  const client = new DynamoDBClient(stack.clientConfig('dynamodb'));
  extraClients.push(client);
  return client;
}

async function newStore(client: DynamoDBClient = stack.dynamodb): Promise<{ store: DynamoDbLeaseStore; tableName: string }> {
  const tableName = uniqueName('leases');
  const store = new DynamoDbLeaseStore({ client, tableName });
  await store.ensureTable();
  return { store, tableName };
}

function applied<T>(result: ConditionalWriteResult<T>): T {
  if (result.status !== 'applied') throw new Error('expected the conditional write to apply, got a conflict');
  return result.value;
}

function ownershipOf(lease: Lease): LeaseOwnership {
  if (lease.leaseOwner === undefined) throw new Error(`lease ${lease.leaseKey} has no owner`);
  return { namespace: lease.namespace, leaseKey: lease.leaseKey, leaseOwner: lease.leaseOwner, leaseCounter: lease.leaseCounter };
}

async function mustGet(store: DynamoDbLeaseStore, namespace: string, leaseKey: string): Promise<Lease> {
  const lease = await store.getLease(namespace, leaseKey);
  if (!lease) throw new Error(`lease ${leaseKey} missing`);
  return lease;
}

/** Creates a lease and lets `owner` acquire it. */
async function ownedLease(store: DynamoDbLeaseStore, namespace: string, owner: string, shardId = 'shardId-000000000000'): Promise<Lease> {
  const created = applied(await store.createLease(namespace, { shardId, checkpoint: { type: 'TRIM_HORIZON' } }));
  return applied(await store.acquireLease(created, owner));
}

async function createForeignTable(tableName: string, keys: readonly (KeySchemaElement & { type: ScalarAttributeType })[]): Promise<void> {
  await stack.dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: keys.map((key) => ({ AttributeName: key.AttributeName, AttributeType: key.type })),
      KeySchema: keys.map(({ AttributeName, KeyType }) => ({ AttributeName, KeyType })),
    }),
  );
}

describe('ensureTable', () => {
  it('creates the lease table with Shoal’s key schema, and is idempotent', async () => {
    const { store, tableName } = await newStore();
    const { Table } = await stack.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([
      { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
      { AttributeName: SORT_KEY, KeyType: 'RANGE' },
    ]);
    expect(PARTITION_KEY).toBe('namespace');
    expect(SORT_KEY).toBe('itemKey');
    const namespace = leaseNamespace('app', 'stream');
    applied(await store.createLease(namespace, { shardId: 'shardId-000000000000', checkpoint: { type: 'LATEST' } }));
    await store.ensureTable();
    // The second call left the table and its items alone.
    expect((await store.readNamespace(namespace)).leases).toHaveLength(1);
  });

  it('survives two workers creating the same table at once', async () => {
    const tableName = uniqueName('leases');
    const stores = [newClient(), newClient()].map((client) => new DynamoDbLeaseStore({ client, tableName }));
    await Promise.all(stores.map((store) => store.ensureTable()));
    const { Table } = await stack.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.TableStatus).toBe('ACTIVE');
  });

  it.each([
    {
      what: 'another hash key and no range key',
      keys: [{ AttributeName: 'leaseKey', KeyType: 'HASH', type: 'S' }] as const,
      found: 'leaseKey (HASH, S)',
    },
    {
      what: 'the right names with a numeric range key',
      keys: [
        { AttributeName: PARTITION_KEY, KeyType: 'HASH', type: 'S' },
        { AttributeName: SORT_KEY, KeyType: 'RANGE', type: 'N' },
      ] as const,
      found: `${PARTITION_KEY} (HASH, S) + ${SORT_KEY} (RANGE, N)`,
    },
    {
      what: 'the key names swapped',
      keys: [
        { AttributeName: SORT_KEY, KeyType: 'HASH', type: 'S' },
        { AttributeName: PARTITION_KEY, KeyType: 'RANGE', type: 'S' },
      ] as const,
      found: `${SORT_KEY} (HASH, S) + ${PARTITION_KEY} (RANGE, S)`,
    },
  ])('rejects an existing table with $what, naming it and both schemas, and writes nothing', async ({ keys, found }) => {
    const tableName = uniqueName('foreign');
    await createForeignTable(tableName, keys);
    const store = new DynamoDbLeaseStore({ client: stack.dynamodb, tableName });

    const error = await store.ensureTable().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(LeaseTableSchemaError);
    const schemaError = error as LeaseTableSchemaError;
    expect(schemaError.code).toBe('LEASE_TABLE_SCHEMA');
    expect(schemaError.retryable).toBe(false);
    expect(schemaError.message).toContain(tableName);
    expect(schemaError.message).toContain(`${PARTITION_KEY} (HASH, S) + ${SORT_KEY} (RANGE, S)`);
    expect(schemaError.message).toContain(`found ${found}`);
    await expect(ensureLeaseTable(stack.dynamodb, tableName)).rejects.toBeInstanceOf(LeaseTableSchemaError);

    const { Items, Count } = await stack.dynamodb.send(new ScanCommand({ TableName: tableName }));
    expect(Count).toBe(0);
    expect(Items).toEqual([]);
    const { Table } = await stack.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.KeySchema).toEqual(keys.map(({ AttributeName, KeyType }) => ({ AttributeName, KeyType })));
  });
});

describe('leases', () => {
  const namespace = leaseNamespace('billing', 'orders');

  it('creates a lease once; a second create conflicts and changes nothing', async () => {
    const { store } = await newStore();
    const lease = applied(
      await store.createLease(namespace, {
        shardId: 'shardId-000000000002',
        checkpoint: { type: 'TRIM_HORIZON' },
        parentShardIds: ['shardId-000000000000', 'shardId-000000000001'],
        hashKeyRange: { startingHashKey: '0', endingHashKey: '170141183460469231731687303715884105727' },
      }),
    );
    expect(lease).toMatchObject({
      namespace,
      leaseKey: 'shardId-000000000002',
      shardId: 'shardId-000000000002',
      leaseOwner: undefined,
      leaseCounter: 0,
      checkpoint: { type: 'TRIM_HORIZON' },
      parentShardIds: ['shardId-000000000000', 'shardId-000000000001'],
      childShardIds: [],
      pendingOwner: undefined,
    });
    expect(await store.getLease(namespace, 'shardId-000000000002')).toEqual(lease);

    const again = await store.createLease(namespace, { shardId: 'shardId-000000000002', checkpoint: { type: 'LATEST' } });
    expect(again).toEqual({ status: 'conflict' });
    expect(await store.getLease(namespace, 'shardId-000000000002')).toEqual(lease);
  });

  it('acquires an unowned lease: owner set, counter 1', async () => {
    const { store } = await newStore();
    const created = applied(await store.createLease(namespace, { shardId: 'shardId-000000000000', checkpoint: { type: 'LATEST' } }));
    const acquired = applied(await store.acquireLease(created, 'worker-a'));
    expect(acquired).toMatchObject({ leaseOwner: 'worker-a', leaseCounter: 1, pendingOwner: undefined, checkpoint: { type: 'LATEST' } });
    expect(await mustGet(store, namespace, 'shardId-000000000000')).toEqual(acquired);
  });

  it('refuses an acquire based on a stale read', async () => {
    const { store } = await newStore();
    const created = applied(await store.createLease(namespace, { shardId: 'shardId-000000000000', checkpoint: { type: 'LATEST' } }));
    const byA = applied(await store.acquireLease(created, 'worker-a'));
    // B read the lease before A took it.
    expect(await store.acquireLease(created, 'worker-b')).toEqual({ status: 'conflict' });
    // C read it with the right owner but an older counter (A released and took it again since).
    const released = applied(await store.releaseLease(ownershipOf(byA)));
    const byAAgain = applied(await store.acquireLease(released, 'worker-a'));
    expect(byAAgain.leaseCounter).toBe(3);
    expect(await store.acquireLease(byA, 'worker-c')).toEqual({ status: 'conflict' });
    // A stale read that saw the lease unowned does not match an owned lease.
    expect(await store.acquireLease(released, 'worker-c')).toEqual({ status: 'conflict' });
    expect(await mustGet(store, namespace, 'shardId-000000000000')).toMatchObject({ leaseOwner: 'worker-a', leaseCounter: 3 });
    // Taking over from an owner that is gone works with a fresh read.
    const byC = applied(await store.acquireLease(byAAgain, 'worker-c'));
    expect(byC).toMatchObject({ leaseOwner: 'worker-c', leaseCounter: 4 });
  });

  it('lets exactly one of 16 concurrent acquirers win, round after round', async () => {
    const { tableName } = await newStore();
    const racers = Array.from({ length: 16 }, (_, i) => ({
      workerId: `racer-${i}`,
      store: new DynamoDbLeaseStore({ client: newClient(), tableName }),
    }));
    const [first] = racers;
    applied(await first!.store.createLease(namespace, { shardId: 'shardId-000000000000', checkpoint: { type: 'TRIM_HORIZON' } }));

    for (let round = 0; round < 5; round++) {
      const seen = await mustGet(first!.store, namespace, 'shardId-000000000000');
      expect(seen.leaseCounter).toBe(round);
      const results = await Promise.all(racers.map(({ store, workerId }) => store.acquireLease(seen, workerId)));
      const winners = results.flatMap((result, i) =>
        result.status === 'applied' ? [{ result: result.value, workerId: racers[i]!.workerId }] : [],
      );
      expect(winners).toHaveLength(1);
      expect(results.filter((result) => result.status === 'conflict')).toHaveLength(15);
      const [winner] = winners;
      expect(winner!.result).toMatchObject({ leaseOwner: winner!.workerId, leaseCounter: round + 1 });
      const stored = await mustGet(first!.store, namespace, 'shardId-000000000000');
      expect(stored.leaseOwner).toBe(winner!.workerId);
      expect(stored.leaseCounter).toBe(round + 1);
    }
  });

  it('records one handoff request; a second requester with the same read conflicts', async () => {
    const { store } = await newStore();
    const owned = await ownedLease(store, namespace, 'worker-a');
    const requested = applied(await store.requestHandoff(owned, 'worker-b'));
    expect(requested).toMatchObject({ leaseOwner: 'worker-a', leaseCounter: 1, pendingOwner: 'worker-b' });
    expect(await store.requestHandoff(owned, 'worker-c')).toEqual({ status: 'conflict' });
    expect(await mustGet(store, namespace, owned.leaseKey)).toMatchObject({ pendingOwner: 'worker-b', leaseCounter: 1 });

    // Replacing a requester that went away needs a read that saw it.
    const replaced = applied(await store.requestHandoff(requested, 'worker-c'));
    expect(replaced).toMatchObject({ pendingOwner: 'worker-c', leaseCounter: 1 });

    // An unowned lease cannot be handed off; it is simply acquired.
    const unowned = applied(await store.createLease(namespace, { shardId: 'shardId-000000000099', checkpoint: { type: 'TRIM_HORIZON' } }));
    expect(await store.requestHandoff(unowned, 'worker-d')).toEqual({ status: 'conflict' });
  });

  it('transfers from the owner: new owner, counter + 1, pending owner cleared; a non-owner cannot', async () => {
    const { store } = await newStore();
    const owned = await ownedLease(store, namespace, 'worker-a');
    applied(await store.checkpoint(ownershipOf(owned), { type: 'SEQUENCE', position: { sequenceNumber: SEQ, subSequenceNumber: 0 } }));
    applied(await store.requestHandoff(owned, 'worker-b'));

    expect(await store.transferLease({ ...ownershipOf(owned), leaseOwner: 'worker-x' }, 'worker-x')).toEqual({ status: 'conflict' });
    expect(await store.transferLease({ ...ownershipOf(owned), leaseCounter: 0 }, 'worker-b')).toEqual({ status: 'conflict' });

    const transferred = applied(await store.transferLease(ownershipOf(owned), 'worker-b'));
    expect(transferred).toMatchObject({
      leaseOwner: 'worker-b',
      leaseCounter: 2,
      pendingOwner: undefined,
      // The new owner starts from the stored checkpoint.
      checkpoint: { type: 'SEQUENCE', position: { sequenceNumber: SEQ, subSequenceNumber: 0 } },
    });
    expect(await mustGet(store, namespace, owned.leaseKey)).toEqual(transferred);
    // Transferring again with the old epoch is refused.
    expect(await store.transferLease(ownershipOf(owned), 'worker-c')).toEqual({ status: 'conflict' });
  });

  it('releases: no owner, counter + 1; refused while a handoff is requested', async () => {
    const { store } = await newStore();
    const owned = await ownedLease(store, namespace, 'worker-a');
    const requested = applied(await store.requestHandoff(owned, 'worker-b'));
    // The requester gets the lease by transfer, so a release must not wipe its request.
    expect(await store.releaseLease(ownershipOf(owned))).toEqual({ status: 'conflict' });
    expect(await mustGet(store, namespace, owned.leaseKey)).toEqual(requested);

    const other = await ownedLease(store, namespace, 'worker-a', 'shardId-000000000042');
    const released = applied(await store.releaseLease(ownershipOf(other)));
    expect(released).toMatchObject({ leaseOwner: undefined, pendingOwner: undefined, leaseCounter: 2 });
    expect(await mustGet(store, namespace, other.leaseKey)).toEqual(released);
    expect(await store.releaseLease(ownershipOf(other))).toEqual({ status: 'conflict' });
    expect(applied(await store.acquireLease(released, 'worker-b'))).toMatchObject({ leaseOwner: 'worker-b', leaseCounter: 3 });
  });

  it('keeps the counter for writes that do not change ownership (checkpoint, handoff request)', async () => {
    const { store } = await newStore();
    const owned = await ownedLease(store, namespace, 'worker-a');
    const checkpointed = applied(
      await store.checkpoint(ownershipOf(owned), { type: 'SEQUENCE', position: { sequenceNumber: SEQ, subSequenceNumber: 0 } }),
    );
    expect(checkpointed.leaseCounter).toBe(1);
    expect(applied(await store.requestHandoff(checkpointed, 'worker-b')).leaseCounter).toBe(1);
    // A pending handoff does not stop the owner from checkpointing while it drains.
    expect(applied(await store.checkpoint(ownershipOf(owned), { type: 'SHARD_END' })).leaseCounter).toBe(1);
  });

  describe('fencing: a previous owner’s checkpoint is refused and changes nothing', () => {
    const before: Checkpoint = { type: 'SEQUENCE', position: { sequenceNumber: SEQ, subSequenceNumber: 3 } };
    const stale: Checkpoint = { type: 'SEQUENCE', position: { sequenceNumber: SEQ_LATER, subSequenceNumber: 0 } };

    async function expectFenced(store: DynamoDbLeaseStore, previous: LeaseOwnership): Promise<void> {
      const stored = await mustGet(store, namespace, previous.leaseKey);
      expect(await store.checkpoint(previous, stale)).toEqual({ status: 'conflict' });
      expect(await store.checkpoint(previous, { type: 'SHARD_END' })).toEqual({ status: 'conflict' });
      const after = await mustGet(store, namespace, previous.leaseKey);
      expect(after).toEqual(stored);
      expect(after.checkpoint).toEqual(before);
    }

    async function checkpointedBy(store: DynamoDbLeaseStore, owner: string): Promise<Lease> {
      const owned = await ownedLease(store, namespace, owner);
      return applied(await store.checkpoint(ownershipOf(owned), before));
    }

    it('after a transfer', async () => {
      const { store } = await newStore();
      const lease = await checkpointedBy(store, 'worker-a');
      applied(await store.transferLease(ownershipOf(lease), 'worker-b'));
      await expectFenced(store, ownershipOf(lease));
    });

    it('after another worker acquired it (the owner was judged dead)', async () => {
      const { store } = await newStore();
      const lease = await checkpointedBy(store, 'worker-a');
      applied(await store.acquireLease(lease, 'worker-b'));
      await expectFenced(store, ownershipOf(lease));
    });

    it('after a release', async () => {
      const { store } = await newStore();
      const lease = await checkpointedBy(store, 'worker-a');
      applied(await store.releaseLease(ownershipOf(lease)));
      await expectFenced(store, ownershipOf(lease));
    });

    it('after the same worker released and took it again (an older epoch of the same owner)', async () => {
      const { store } = await newStore();
      const lease = await checkpointedBy(store, 'worker-a');
      const released = applied(await store.releaseLease(ownershipOf(lease)));
      const again = applied(await store.acquireLease(released, 'worker-a'));
      expect(again.leaseOwner).toBe(lease.leaseOwner);
      await expectFenced(store, ownershipOf(lease));
      // The current epoch still may checkpoint.
      expect(applied(await store.checkpoint(ownershipOf(again), stale)).checkpoint).toEqual(stale);
    });
  });

  it('round-trips every kind of checkpoint', async () => {
    const { store, tableName } = await newStore();
    const owned = await ownedLease(store, namespace, 'worker-a');
    const checkpoints: Checkpoint[] = [
      { type: 'SEQUENCE', position: { sequenceNumber: SEQ, subSequenceNumber: 0 } },
      { type: 'SEQUENCE', position: { sequenceNumber: SEQ_LATER, subSequenceNumber: 17 } },
      { type: 'AT_TIMESTAMP', timestamp: new Date('2024-05-06T07:08:09.123Z') },
      { type: 'TRIM_HORIZON' },
      { type: 'AT_TIMESTAMP', timestamp: new Date(0) },
      { type: 'LATEST' },
      { type: 'SEQUENCE', position: { sequenceNumber: '1', subSequenceNumber: 2_147_483_647 } },
      { type: 'SHARD_END' },
    ];
    for (const checkpoint of checkpoints) {
      const written = applied(await store.checkpoint(ownershipOf(owned), checkpoint));
      expect(written.checkpoint).toEqual(checkpoint);
      expect(written.checkpointedAt).toEqual(expect.any(Number));
      expect((await mustGet(store, namespace, owned.leaseKey)).checkpoint).toEqual(checkpoint);
      const { leases } = await store.readNamespace(namespace);
      expect(leases.map((lease) => lease.checkpoint)).toEqual([checkpoint]);
      // A timestamp is kept only while the checkpoint is AT_TIMESTAMP.
      const { Item } = await stack.dynamodb.send(
        new GetItemCommand({
          TableName: tableName,
          Key: { [PARTITION_KEY]: { S: namespace }, [SORT_KEY]: { S: `lease#${owned.leaseKey}` } },
          ConsistentRead: true,
        }),
      );
      expect(Item?.checkpointTimestamp !== undefined).toBe(checkpoint.type === 'AT_TIMESTAMP');
    }
  });

  it('creates a lease at AT_TIMESTAMP and reads the timestamp back', async () => {
    const { store } = await newStore();
    const timestamp = new Date('2023-01-02T03:04:05.678Z');
    const created = applied(
      await store.createLease(namespace, { shardId: 'shardId-000000000009', checkpoint: { type: 'AT_TIMESTAMP', timestamp } }),
    );
    expect(created.checkpoint).toEqual({ type: 'AT_TIMESTAMP', timestamp });
    expect((await mustGet(store, namespace, 'shardId-000000000009')).checkpoint).toEqual({ type: 'AT_TIMESTAMP', timestamp });
  });

  it('deletes only a finished (SHARD_END) lease', async () => {
    const { store } = await newStore();
    const owned = await ownedLease(store, namespace, 'worker-a');
    expect(await store.deleteFinishedLease(namespace, owned.leaseKey)).toEqual({ status: 'conflict' });
    applied(await store.checkpoint(ownershipOf(owned), { type: 'SEQUENCE', position: { sequenceNumber: SEQ, subSequenceNumber: 0 } }));
    expect(await store.deleteFinishedLease(namespace, owned.leaseKey)).toEqual({ status: 'conflict' });
    expect(await store.getLease(namespace, owned.leaseKey)).toBeDefined();

    applied(await store.checkpoint(ownershipOf(owned), { type: 'SHARD_END' }));
    expect(await store.deleteFinishedLease(namespace, owned.leaseKey)).toEqual({ status: 'applied', value: undefined });
    expect(await store.getLease(namespace, owned.leaseKey)).toBeUndefined();
    expect(await store.deleteFinishedLease(namespace, owned.leaseKey)).toEqual({ status: 'conflict' });
    expect(await store.deleteFinishedLease(namespace, 'shardId-never-created')).toEqual({ status: 'conflict' });
  });

  it('refuses writes to a lease that does not exist', async () => {
    const { store } = await newStore();
    const ghost: LeaseOwnership = { namespace, leaseKey: 'shardId-000000000404', leaseOwner: 'worker-a', leaseCounter: 1 };
    expect(await store.checkpoint(ghost, { type: 'LATEST' })).toEqual({ status: 'conflict' });
    expect(await store.transferLease(ghost, 'worker-b')).toEqual({ status: 'conflict' });
    expect(await store.releaseLease(ghost)).toEqual({ status: 'conflict' });
    expect(await store.getLease(namespace, ghost.leaseKey)).toBeUndefined();
  });
});

describe('request timeouts', () => {
  const namespace = leaseNamespace('billing', 'timeouts');

  it('abandons a write whose answer is held up, as a retryable timeout, although DynamoDB applied it', async () => {
    const client = newClient();
    let holdAnswersMs = 0;
    // The reply is delayed after DynamoDB answered: a lost or late response, as on a half-open socket.
    client.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        if (holdAnswersMs > 0) await new Promise((resolve) => setTimeout(resolve, holdAnswersMs));
        return result;
      },
      { step: 'deserialize', name: 'holdAnswers' },
    );
    const tableName = uniqueName('leases');
    const store = new DynamoDbLeaseStore({ client, tableName, requestTimeoutMs: 300 });
    await store.ensureTable();
    const lease = await ownedLease(store, namespace, 'worker-a');

    holdAnswersMs = 1_500;
    const error = await store.checkpoint(ownershipOf(lease), { type: 'LATEST' }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    holdAnswersMs = 0;
    expect(error).toBeInstanceOf(LeaseTableError);
    expect((error as LeaseTableError).retryable).toBe(true);
    expect((error as LeaseTableError).cause).toBeInstanceOf(RequestTimeoutError);
    expect((error as Error).message).toMatch(/UpdateItem .* no answer within 300 ms/);
    // The write landed all the same: its outcome was unknown, not failed.
    expect((await mustGet(store, namespace, lease.leaseKey)).checkpoint).toEqual({ type: 'LATEST' });
  });
});

describe('worker records', () => {
  const namespace = leaseNamespace('billing', 'orders');

  it('registers once; a duplicate id conflicts', async () => {
    const { store } = await newStore();
    const record = applied(await store.registerWorker(namespace, 'worker-a', { host: 'host-1' }));
    expect(record).toMatchObject({ namespace, workerId: 'worker-a', heartbeat: 0, status: 'active', host: 'host-1' });
    expect(await store.registerWorker(namespace, 'worker-a', { host: 'host-2' })).toEqual({ status: 'conflict' });
    expect((await store.readNamespace(namespace)).workers).toEqual([record]);
    expect(applied(await store.registerWorker(namespace, 'worker-b')).host).toBeUndefined();
  });

  it('keeps whether a worker listens for plans on its own subject; a record of an earlier release does not say so', async () => {
    const { store } = await newStore();
    applied(await store.registerWorker(namespace, 'current', { ownPlanSubject: true }));
    applied(await store.registerWorker(namespace, 'earlier'));
    const records = new Map((await store.readNamespace(namespace)).workers.map((worker) => [worker.workerId, worker]));
    expect(records.get('current')?.ownPlanSubject).toBe(true);
    expect(records.get('earlier')?.ownPlanSubject).toBeUndefined();
    expect((await store.getWorker(namespace, 'current'))?.ownPlanSubject).toBe(true);
  });

  it('keeps the streams a worker consumes, and changes them while the record exists', async () => {
    const { store } = await newStore();
    const app = leaseNamespace('billing');
    applied(await store.registerWorker(app, 'by-list', { streams: ['orders', 'refunds'] }));
    applied(await store.registerWorker(app, 'unstated'));
    const records = new Map((await store.readNamespace(app)).workers.map((worker) => [worker.workerId, worker]));
    expect(records.get('by-list')?.streams).toEqual(['orders', 'refunds']);
    expect(records.get('unstated')?.streams).toBeUndefined();
    expect(applied(await store.setWorkerStreams(app, 'by-list', ['orders', 'returns'])).streams).toEqual(['orders', 'returns']);
    expect((await store.getWorker(app, 'by-list'))?.streams).toEqual(['orders', 'returns']);
    expect(applied(await store.setWorkerStreams(app, 'by-list', [])).streams).toEqual([]);
    expect(await store.setWorkerStreams(app, 'never-registered', ['orders'])).toEqual({ status: 'conflict' });
  });

  it('heartbeats, marks leaving, and is removed only with the heartbeat observed', async () => {
    const { store } = await newStore();
    applied(await store.registerWorker(namespace, 'worker-a'));
    expect(applied(await store.heartbeatWorker(namespace, 'worker-a')).heartbeat).toBe(1);
    expect(applied(await store.heartbeatWorker(namespace, 'worker-a')).heartbeat).toBe(2);

    const leaving = applied(await store.markWorkerLeaving(namespace, 'worker-a'));
    expect(leaving).toMatchObject({ status: 'leaving', heartbeat: 3 });
    // Heartbeats go on while it drains, and keep the status.
    expect(applied(await store.heartbeatWorker(namespace, 'worker-a'))).toMatchObject({ status: 'leaving', heartbeat: 4 });

    // An observer saw heartbeat 3 stuck, but the worker has moved on since.
    expect(await store.removeDeadWorker(namespace, 'worker-a', 3)).toEqual({ status: 'conflict' });
    expect((await store.readNamespace(namespace)).workers).toHaveLength(1);
    expect(await store.removeDeadWorker(namespace, 'worker-a', 4)).toEqual({ status: 'applied', value: undefined });
    expect((await store.readNamespace(namespace)).workers).toEqual([]);

    // The removed worker learns it was judged dead; nothing recreates its record.
    expect(await store.heartbeatWorker(namespace, 'worker-a')).toEqual({ status: 'conflict' });
    expect(await store.markWorkerLeaving(namespace, 'worker-a')).toEqual({ status: 'conflict' });
    expect(await store.removeDeadWorker(namespace, 'worker-a', 4)).toEqual({ status: 'conflict' });
    expect((await store.readNamespace(namespace)).workers).toEqual([]);
  });

  it('deregisters unconditionally and idempotently', async () => {
    const { store } = await newStore();
    applied(await store.registerWorker(namespace, 'worker-a'));
    await store.deregisterWorker(namespace, 'worker-a');
    await store.deregisterWorker(namespace, 'worker-a');
    expect((await store.readNamespace(namespace)).workers).toEqual([]);
    expect(applied(await store.registerWorker(namespace, 'worker-a')).heartbeat).toBe(0);
  });
});

describe('readNamespace', () => {
  it('returns the leases and workers of its namespace only', async () => {
    const { store } = await newStore();
    const mine = leaseNamespace('billing', 'orders');
    const others = [leaseNamespace('billing', 'orders-eu'), leaseNamespace('audit', 'orders'), 'billing/order'];
    for (const namespace of [mine, ...others]) {
      for (let i = 0; i < 3; i++) {
        applied(await store.createLease(namespace, { shardId: `shardId-00000000000${i}`, checkpoint: { type: 'LATEST' } }));
      }
      applied(await store.registerWorker(namespace, `worker-of-${namespace}`));
    }
    applied(await store.registerWorker(mine, 'worker-b'));

    const snapshot = await store.readNamespace(mine);
    expect(snapshot.leases.map((lease) => lease.leaseKey).sort()).toEqual([
      'shardId-000000000000',
      'shardId-000000000001',
      'shardId-000000000002',
    ]);
    expect(snapshot.leases.every((lease) => lease.namespace === mine)).toBe(true);
    expect(snapshot.workers.map((worker) => worker.workerId).sort()).toEqual(['worker-b', `worker-of-${mine}`]);
    expect(snapshot.workers.every((worker) => worker.namespace === mine)).toBe(true);

    expect(await store.readNamespace('nobody/here')).toEqual({ leases: [], workers: [], leadership: undefined, malformed: [] });
  });

  it('reads every page of a namespace larger than one 1 MB Query page', async () => {
    const client = newClient();
    let queries = 0;
    client.middlewareStack.add(
      (next, context) => (args) => {
        if (context.commandName === 'QueryCommand') queries += 1;
        return next(args);
      },
      { step: 'initialize', name: 'countQueries' },
    );
    const { store, tableName } = await newStore(client);
    const namespace = leaseNamespace('billing', 'orders');
    const neighbour = leaseNamespace('billing', 'payments');
    // ~4 KB of parent ids per lease: 300 leases are ~1.2 MB, more than one Query page.
    const padding = Array.from({ length: 4 }, (_, i) => `shardId-parent-${i}-${'x'.repeat(1_000)}`);
    const shardIds = Array.from({ length: 300 }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);
    for (let i = 0; i < shardIds.length; i += 25) {
      await Promise.all(
        shardIds
          .slice(i, i + 25)
          .map(async (shardId) =>
            applied(await store.createLease(namespace, { shardId, checkpoint: { type: 'TRIM_HORIZON' }, parentShardIds: padding })),
          ),
      );
    }
    for (let i = 0; i < 5; i++) applied(await store.registerWorker(namespace, `worker-${i}`));
    for (let i = 0; i < 10; i++) {
      applied(await store.createLease(neighbour, { shardId: `shardId-${i}`, checkpoint: { type: 'LATEST' }, parentShardIds: padding }));
    }

    // The data really spans pages: a plain Query stops early with a LastEvaluatedKey.
    const firstPage = await stack.dynamodb.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: '#ns = :ns',
        ExpressionAttributeNames: { '#ns': PARTITION_KEY },
        ExpressionAttributeValues: { ':ns': { S: namespace } },
        ConsistentRead: true,
      }),
    );
    expect(firstPage.LastEvaluatedKey).toBeDefined();
    expect(firstPage.Count).toBeLessThan(305);

    queries = 0;
    const snapshot = await store.readNamespace(namespace);
    expect(queries).toBeGreaterThan(1);
    expect(snapshot.leases.map((lease) => lease.leaseKey).sort()).toEqual(shardIds);
    expect(snapshot.leases[0]?.parentShardIds).toEqual(padding);
    expect(snapshot.workers.map((worker) => worker.workerId).sort()).toEqual(['worker-0', 'worker-1', 'worker-2', 'worker-3', 'worker-4']);
  });
});

describe('the owner index', () => {
  it('is created with the table, keyed by owner and namespace, projecting only the epoch and a handoff request', async () => {
    const { tableName } = await newStore();
    const { Table } = await stack.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    const index = Table?.GlobalSecondaryIndexes?.find((candidate) => candidate.IndexName === OWNER_INDEX_NAME);
    expect(index?.KeySchema).toEqual([
      { AttributeName: 'leaseOwner', KeyType: 'HASH' },
      { AttributeName: PARTITION_KEY, KeyType: 'RANGE' },
    ]);
    expect(index?.Projection).toEqual({ ProjectionType: 'INCLUDE', NonKeyAttributes: ['leaseCounter', 'pendingOwner'] });
  });

  it('lists the leases one worker owns in one namespace, with their epoch and handoff request, and nothing else', async () => {
    const { store } = await newStore();
    const namespace = leaseNamespace('billing', 'orders');
    const neighbour = leaseNamespace('billing', 'payments');
    const first = await ownedLease(store, namespace, 'worker-a', 'shardId-000000000000');
    const second = await ownedLease(store, namespace, 'worker-a', 'shardId-000000000001');
    await ownedLease(store, namespace, 'worker-b', 'shardId-000000000002');
    await ownedLease(store, neighbour, 'worker-a', 'shardId-000000000000');
    applied(await store.createLease(namespace, { shardId: 'shardId-000000000003', checkpoint: { type: 'LATEST' } }));
    applied(await store.registerWorker(namespace, 'worker-a'));
    applied(await store.requestHandoff(second, 'worker-b'));
    applied(await store.checkpoint(ownershipOf(first), { type: 'SEQUENCE', position: { sequenceNumber: SEQ, subSequenceNumber: 0 } }));

    const refs = await store.listOwnedLeases(namespace, 'worker-a');
    expect([...(refs ?? [])].sort((a, b) => (a.leaseKey < b.leaseKey ? -1 : 1))).toEqual([
      { leaseKey: 'shardId-000000000000', leaseCounter: 1, pendingOwner: undefined },
      { leaseKey: 'shardId-000000000001', leaseCounter: 1, pendingOwner: 'worker-b' },
    ]);

    // A lease handed over leaves the old owner's list and joins the new owner's.
    applied(await store.transferLease(ownershipOf(second), 'worker-b'));
    expect((await store.listOwnedLeases(namespace, 'worker-a'))?.map((ref) => ref.leaseKey)).toEqual(['shardId-000000000000']);
    expect((await store.listOwnedLeases(namespace, 'worker-b'))?.map((ref) => ref.leaseKey).sort()).toEqual([
      'shardId-000000000001',
      'shardId-000000000002',
    ]);
    expect(await store.listOwnedLeases(namespace, 'worker-z')).toEqual([]);
  });

  it('is missing from a table created before it existed: the table is used as it is, and the store says the index is not there', async () => {
    const tableName = uniqueName('old-leases');
    await createForeignTable(tableName, [
      { AttributeName: PARTITION_KEY, KeyType: 'HASH', type: 'S' },
      { AttributeName: SORT_KEY, KeyType: 'RANGE', type: 'S' },
    ]);
    const store = new DynamoDbLeaseStore({ client: stack.dynamodb, tableName });
    await store.ensureTable();
    const namespace = leaseNamespace('billing', 'orders');
    await ownedLease(store, namespace, 'worker-a');
    expect(await store.listOwnedLeases(namespace, 'worker-a')).toBeUndefined();
    // Without ensureTable, the first query finds out.
    const unaware = new DynamoDbLeaseStore({ client: stack.dynamodb, tableName });
    expect(await unaware.listOwnedLeases(namespace, 'worker-a')).toBeUndefined();
  });
});

describe('eventually consistent namespace reads', () => {
  it('read the same namespace as strong ones (at half the cost)', async () => {
    const { store } = await newStore();
    const namespace = leaseNamespace('billing', 'orders');
    await ownedLease(store, namespace, 'worker-a');
    applied(await store.registerWorker(namespace, 'worker-a'));
    expect(await store.readNamespace(namespace, { consistency: 'eventual' })).toEqual(await store.readNamespace(namespace));
  });
});

describe('an index named like the owner index but shaped otherwise', () => {
  it('is not used: the store reads the namespace instead', async () => {
    const tableName = uniqueName('odd-index');
    await stack.dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: PARTITION_KEY, AttributeType: 'S' },
          { AttributeName: SORT_KEY, AttributeType: 'S' },
          { AttributeName: 'leaseOwner', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
          { AttributeName: SORT_KEY, KeyType: 'RANGE' },
        ],
        // Same name, keys only: it would list leases without their epoch.
        GlobalSecondaryIndexes: [
          {
            IndexName: OWNER_INDEX_NAME,
            KeySchema: [
              { AttributeName: 'leaseOwner', KeyType: 'HASH' },
              { AttributeName: PARTITION_KEY, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
      }),
    );
    const store = new DynamoDbLeaseStore({ client: stack.dynamodb, tableName });
    await store.ensureTable();
    const namespace = leaseNamespace('billing', 'orders');
    await ownedLease(store, namespace, 'worker-a');
    expect(await store.listOwnedLeases(namespace, 'worker-a')).toBeUndefined();
  });
});
