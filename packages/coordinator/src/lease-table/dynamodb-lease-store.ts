import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { Checkpoint } from '@shoal/processor-sdk';
import { withRequestTimeout } from '../aws/request-timeout.js';
import { ensureLeaseTable } from './ensure-lease-table.js';
import {
  LEADERSHIP_ITEM_KEY,
  PARTITION_KEY,
  SORT_KEY,
  decodeLeadership,
  decodeLease,
  decodeWorker,
  encodeCheckpoint,
  isLeadershipItem,
  isLeaseItem,
  isWorkerItem,
  leaseItemProblem,
  leaseItemKey,
  leaseKeyOf,
  newLeaseItem,
  workerItemKey,
  type Item,
} from './item-codec.js';
import type {
  ConditionalWriteResult,
  Lease,
  LeadershipRecord,
  LeaseOwnership,
  NewLease,
  WorkerLivenessMode,
  WorkerRecord,
} from './lease.js';
import { LeaseTableError } from './lease-table-errors.js';
import type { LeaseStore, MalformedRow, NamespaceSnapshot } from './lease-store.js';

export interface DynamoDbLeaseStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Epoch-millisecond clock for the informational timestamps; injectable for tests. */
  readonly now?: () => number;
  /**
   * A call without an answer after this long fails with a retryable timeout (its write may
   * still have been applied). Default 2000 ms.
   */
  readonly requestTimeoutMs?: number;
}

interface SendOptions {
  readonly abortSignal: AbortSignal;
}

const CONFLICT = { status: 'conflict' } as const;

/**
 * Attribute names for expressions, clear of DynamoDB's reserved words. DynamoDB rejects names
 * an expression does not use, hence two sets.
 */
const OWNERSHIP_NAMES = { '#owner': 'leaseOwner', '#counter': 'leaseCounter' } as const;
const HANDOFF_NAMES = { ...OWNERSHIP_NAMES, '#pending': 'pendingOwner' } as const;

/**
 * {@link LeaseStore} on DynamoDB. This module holds every conditional write Shoal makes; each
 * method's header gives its key, condition, updates and outcomes.
 */
export class DynamoDbLeaseStore implements LeaseStore {
  private readonly documents: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly client: DynamoDBClient;
  private readonly now: () => number;
  private readonly requestTimeoutMs: number;

  constructor(options: DynamoDbLeaseStoreOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 2_000;
    this.client = options.client;
    this.tableName = options.tableName;
    this.now = options.now ?? Date.now;
    this.documents = DynamoDBDocumentClient.from(options.client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  ensureTable(): Promise<void> {
    return ensureLeaseTable(this.client, this.tableName);
  }

  /** Reads every lease and worker record of the namespace (consistent read, all pages). */
  async readNamespace(namespace: string): Promise<NamespaceSnapshot> {
    const leases: Lease[] = [];
    const malformed: MalformedRow[] = [];
    const workers: WorkerRecord[] = [];
    let leadership: LeadershipRecord | undefined;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.call('Query', (options) =>
        this.documents.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: '#ns = :ns',
            ExpressionAttributeNames: { '#ns': PARTITION_KEY },
            ExpressionAttributeValues: { ':ns': namespace },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
          options,
        ),
      );
      for (const item of page.Items ?? []) {
        if (isLeaseItem(item)) {
          const problem = leaseItemProblem(item);
          if (problem === undefined) leases.push(decodeLease(item));
          else malformed.push({ itemKey: String(item[SORT_KEY]), leaseKey: leaseKeyOf(String(item[SORT_KEY])), problem });
        } else if (isWorkerItem(item)) workers.push(decodeWorker(item));
        else if (isLeadershipItem(item)) leadership = decodeLeadership(item);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return { leases, workers, leadership, malformed };
  }

  async getLease(namespace: string, leaseKey: string): Promise<Lease | undefined> {
    const { Item: item } = await this.call('GetItem', (options) =>
      this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: this.key(namespace, leaseItemKey(leaseKey)), ConsistentRead: true }),
        options,
      ),
    );
    if (!item) return undefined;
    const problem = leaseItemProblem(item);
    if (problem !== undefined) {
      throw new LeaseTableError(`lease row ${String(item[SORT_KEY])} in ${this.tableName} is malformed: ${problem}`, { retryable: false });
    }
    return decodeLease(item);
  }

  async getWorker(namespace: string, workerId: string): Promise<WorkerRecord | undefined> {
    const { Item: item } = await this.call('GetItem', (options) =>
      this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: this.key(namespace, workerItemKey(workerId)), ConsistentRead: true }),
        options,
      ),
    );
    return item ? decodeWorker(item) : undefined;
  }

  async getLeadership(namespace: string): Promise<LeadershipRecord | undefined> {
    const { Item: item } = await this.call('GetItem', (options) =>
      this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: this.key(namespace, LEADERSHIP_ITEM_KEY), ConsistentRead: true }),
        options,
      ),
    );
    return item ? decodeLeadership(item) : undefined;
  }

  /**
   * createLease
   * - key: (namespace, lease#<shardId>)
   * - condition: the item does not exist
   * - updates: the whole item; no owner, counter 0, checkpoint = the initial position
   * - outcomes: `applied` (created) | `conflict` (a lease for the shard exists already)
   */
  async createLease(namespace: string, lease: NewLease): Promise<ConditionalWriteResult<Lease>> {
    const item = newLeaseItem(namespace, lease, this.now());
    return this.conditional('PutItem', async (options) => {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#sk)',
          ExpressionAttributeNames: { '#sk': SORT_KEY },
        }),
        options,
      );
      return decodeLease(item);
    });
  }

  /**
   * acquireLease
   * - key: the lease
   * - condition: counter = expected counter AND owner = expected owner (or no owner, when the
   *   lease was read unowned)
   * - updates: owner = newOwner, counter + 1, pending owner removed
   * - outcomes: `applied` with the new ownership | `conflict` (someone else changed the lease)
   */
  acquireLease(expected: Lease, newOwner: string): Promise<ConditionalWriteResult<Lease>> {
    const ownerCondition = expected.leaseOwner === undefined ? 'attribute_not_exists(#owner)' : '#owner = :expectedOwner';
    return this.update({
      Key: this.key(expected.namespace, leaseItemKey(expected.leaseKey)),
      ConditionExpression: `${ownerCondition} AND #counter = :expectedCounter`,
      UpdateExpression: 'SET #owner = :newOwner, #counter = #counter + :one, ownerSince = :now REMOVE #pending',
      ExpressionAttributeNames: HANDOFF_NAMES,
      ExpressionAttributeValues: {
        ...(expected.leaseOwner === undefined ? {} : { ':expectedOwner': expected.leaseOwner }),
        ':expectedCounter': expected.leaseCounter,
        ':newOwner': newOwner,
        ':one': 1,
        ':now': this.now(),
      },
    });
  }

  /**
   * requestHandoff
   * - key: the lease
   * - condition: owner and counter as read, AND the pending owner is still what was read (none,
   *   or a requester that has since gone away)
   * - updates: pending owner = requester
   * - outcomes: `applied` | `conflict` (ownership changed, or another request got there first)
   */
  requestHandoff(expected: Lease, requester: string): Promise<ConditionalWriteResult<Lease>> {
    if (expected.leaseOwner === undefined) return Promise.resolve(CONFLICT);
    const pendingCondition = expected.pendingOwner === undefined ? 'attribute_not_exists(#pending)' : '#pending = :expectedPending';
    return this.update({
      Key: this.key(expected.namespace, leaseItemKey(expected.leaseKey)),
      ConditionExpression: `#owner = :owner AND #counter = :counter AND ${pendingCondition}`,
      UpdateExpression: 'SET #pending = :requester',
      ExpressionAttributeNames: HANDOFF_NAMES,
      ExpressionAttributeValues: {
        ':owner': expected.leaseOwner,
        ':counter': expected.leaseCounter,
        ':requester': requester,
        ...(expected.pendingOwner === undefined ? {} : { ':expectedPending': expected.pendingOwner }),
      },
    });
  }

  /**
   * transferLease
   * - key: the lease
   * - condition: owner = caller AND counter = the caller's epoch
   * - updates: owner = newOwner, counter + 1, pending owner removed
   * - outcomes: `applied` (the new owner may start from the stored checkpoint) | `conflict`
   *   (the caller had already lost the lease)
   */
  transferLease(ownership: LeaseOwnership, newOwner: string): Promise<ConditionalWriteResult<Lease>> {
    return this.update({
      ...this.fenced(ownership, HANDOFF_NAMES),
      UpdateExpression: 'SET #owner = :newOwner, #counter = #counter + :one, ownerSince = :now REMOVE #pending',
      ExpressionAttributeValues: { ...this.fencedValues(ownership), ':newOwner': newOwner, ':one': 1, ':now': this.now() },
    });
  }

  /**
   * releaseLease
   * - key: the lease
   * - condition: owner = caller AND counter = the caller's epoch AND no pending owner (a worker
   *   that asked for the lease gets it by transfer instead), or, with `dropPendingOwner`, that
   *   pending owner exactly (the caller found it gone: dead or deregistered)
   * - updates: owner and pending owner removed, counter + 1
   * - outcomes: `applied` | `conflict` (the caller had already lost the lease, or a handoff
   *   request arrived: read the lease again and transfer it)
   */
  releaseLease(ownership: LeaseOwnership, options: { readonly dropPendingOwner?: string } = {}): Promise<ConditionalWriteResult<Lease>> {
    const drop = options.dropPendingOwner;
    return this.update({
      ...this.fenced(ownership, HANDOFF_NAMES),
      ConditionExpression:
        '#owner = :owner AND #counter = :counter AND ' +
        (drop === undefined ? 'attribute_not_exists(#pending)' : '(attribute_not_exists(#pending) OR #pending = :drop)'),
      UpdateExpression: 'SET #counter = #counter + :one REMOVE #owner, #pending',
      ExpressionAttributeValues: { ...this.fencedValues(ownership), ':one': 1, ...(drop === undefined ? {} : { ':drop': drop }) },
    });
  }

  /**
   * checkpoint
   * - key: the lease
   * - condition: owner = caller AND counter = the caller's epoch (a stale owner is fenced out)
   * - updates: checkpoint, sub-sequence, timestamp (AT_TIMESTAMP only), checkpointedAt
   * - outcomes: `applied` | `conflict` (the caller lost the lease; the stored checkpoint is unchanged)
   */
  checkpoint(ownership: LeaseOwnership, checkpoint: Checkpoint): Promise<ConditionalWriteResult<Lease>> {
    const encoded = encodeCheckpoint(checkpoint);
    return this.update({
      ...this.fenced(ownership),
      UpdateExpression:
        'SET checkpoint = :checkpoint, checkpointSubSequence = :sub, checkpointedAt = :now' +
        (encoded.checkpointTimestamp === undefined ? ' REMOVE checkpointTimestamp' : ', checkpointTimestamp = :ts'),
      ExpressionAttributeValues: {
        ...this.fencedValues(ownership),
        ':checkpoint': encoded.checkpoint,
        ':sub': encoded.checkpointSubSequence,
        ':now': this.now(),
        ...(encoded.checkpointTimestamp === undefined ? {} : { ':ts': encoded.checkpointTimestamp }),
      },
    });
  }

  /**
   * deleteFinishedLease
   * - key: the lease
   * - condition: checkpoint = SHARD_END
   * - updates: deletes the item
   * - outcomes: `applied` | `conflict` (the shard is not finished, or the lease is gone)
   */
  deleteFinishedLease(namespace: string, leaseKey: string): Promise<ConditionalWriteResult<void>> {
    return this.conditional('DeleteItem', async (options) => {
      await this.documents.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: this.key(namespace, leaseItemKey(leaseKey)),
          ConditionExpression: 'checkpoint = :end',
          ExpressionAttributeValues: { ':end': 'SHARD_END' },
        }),
        options,
      );
    });
  }

  /**
   * registerWorker
   * - key: (namespace, worker#<workerId>)
   * - condition: the item does not exist (worker ids are unique per process)
   * - updates: the whole item; heartbeat 0, status active, liveness `table`
   * - outcomes: `applied` | `conflict` (a worker with this id is registered already)
   */
  async registerWorker(
    namespace: string,
    workerId: string,
    host?: string,
    fleetKey?: string,
  ): Promise<ConditionalWriteResult<WorkerRecord>> {
    const item: Item = {
      ...this.key(namespace, workerItemKey(workerId)),
      kind: 'worker',
      workerId,
      heartbeat: 0,
      status: 'active',
      liveness: 'table',
      startedAt: this.now(),
      ...(host === undefined ? {} : { host }),
      ...(fleetKey === undefined ? {} : { fleetKey }),
    };
    return this.conditional('PutItem', async (options) => {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#sk)',
          ExpressionAttributeNames: { '#sk': SORT_KEY },
        }),
        options,
      );
      return decodeWorker(item);
    });
  }

  /**
   * heartbeatWorker
   * - key: the worker record
   * - condition: the item exists
   * - updates: heartbeat + 1
   * - outcomes: `applied` | `conflict` (the record was removed: others consider this worker dead)
   */
  heartbeatWorker(namespace: string, workerId: string): Promise<ConditionalWriteResult<WorkerRecord>> {
    return this.updateWorker(namespace, workerId, 'SET heartbeat = heartbeat + :one, heartbeatAt = :now', {
      ':one': 1,
      ':now': this.now(),
    });
  }

  /**
   * markWorkerLeaving
   * - key: the worker record
   * - condition: the item exists
   * - updates: status = leaving (planners stop assigning leases to it), heartbeat + 1
   * - outcomes: `applied` | `conflict` (the record is gone)
   */
  markWorkerLeaving(namespace: string, workerId: string): Promise<ConditionalWriteResult<WorkerRecord>> {
    return this.updateWorker(
      namespace,
      workerId,
      'SET #status = :leaving, heartbeat = heartbeat + :one',
      {
        ':leaving': 'leaving',
        ':one': 1,
      },
      { '#status': 'status' },
    );
  }

  /** Unconditional: a worker removes its own record when it stops. */
  async deregisterWorker(namespace: string, workerId: string): Promise<void> {
    await this.call('DeleteItem', (options) =>
      this.documents.send(new DeleteCommand({ TableName: this.tableName, Key: this.key(namespace, workerItemKey(workerId)) }), options),
    );
  }

  /**
   * removeDeadWorker
   * - key: the worker record
   * - condition: heartbeat = the value observed unchanged for a lease duration AND liveness is
   *   `table` (a `nats`-mode worker does not heartbeat here; only the leader may revoke it)
   * - updates: deletes the item
   * - outcomes: `applied` | `conflict` (the worker heartbeated after all, switched mode, or is gone)
   */
  removeDeadWorker(namespace: string, workerId: string, observedHeartbeat: number): Promise<ConditionalWriteResult<void>> {
    return this.deleteWorker(namespace, workerId, 'heartbeat = :observed AND (attribute_not_exists(liveness) OR liveness = :table)', {
      ':observed': observedHeartbeat,
      ':table': 'table',
    });
  }

  /**
   * switchWorkerLiveness
   * - key: the worker record
   * - condition: the item exists (to `nats`: and is in `table` mode; to `table`: and is in
   *   `nats` mode), so it races exactly with `revokeWorker`
   * - updates: liveness = to, grantTerm = the term of the grant held (to `nats`) or removed,
   *   heartbeat + 1 (a switch to `table` is also a heartbeat)
   * - outcomes: `applied` | `conflict` (the record is gone: the leader revoked this worker, or
   *   it is already in that mode)
   */
  switchWorkerLiveness(
    namespace: string,
    workerId: string,
    to: WorkerLivenessMode,
    grantTerm?: number,
  ): Promise<ConditionalWriteResult<WorkerRecord>> {
    const toNats = to === 'nats';
    return this.updateWorker(
      namespace,
      workerId,
      toNats
        ? 'SET liveness = :to, grantTerm = :term, heartbeat = heartbeat + :one, heartbeatAt = :now'
        : 'SET liveness = :to, heartbeat = heartbeat + :one, heartbeatAt = :now REMOVE grantTerm',
      { ':from': toNats ? 'table' : 'nats', ':to': to, ':one': 1, ':now': this.now(), ...(toNats ? { ':term': grantTerm ?? 0 } : {}) },
      {},
      toNats ? '(attribute_not_exists(liveness) OR liveness = :from)' : 'liveness = :from',
    );
  }

  /**
   * repointWorkerGrants
   * - key: the worker record
   * - condition: liveness = `nats` AND grantTerm = fromTerm (the same condition a revocation
   *   under fromTerm needs, so exactly one of the two succeeds)
   * - updates: grantTerm = toTerm (a newer leader's, whose grants the worker now lives on)
   * - outcomes: `applied` | `conflict` (revoked, switched modes, or already moved on)
   */
  repointWorkerGrants(
    namespace: string,
    workerId: string,
    fromTerm: number,
    toTerm: number,
  ): Promise<ConditionalWriteResult<WorkerRecord>> {
    return this.updateWorker(
      namespace,
      workerId,
      'SET grantTerm = :to',
      { ':nats': 'nats', ':from': fromTerm, ':to': toTerm },
      {},
      'liveness = :nats AND grantTerm = :from',
    );
  }

  /**
   * revokeWorker
   * - key: the worker record
   * - condition: liveness = `nats` AND grantTerm = the term the leader judged it by (a leader
   *   that lost its term unawares cannot revoke workers living on a newer term's grants)
   * - updates: deletes the item; the worker's leases may be taken by conditional acquire
   * - outcomes: `applied` | `conflict` (it switched modes or terms first, or is gone)
   */
  revokeWorker(namespace: string, workerId: string, grantTerm: number | undefined): Promise<ConditionalWriteResult<void>> {
    return this.deleteWorker(namespace, workerId, 'liveness = :nats AND grantTerm = :term', { ':nats': 'nats', ':term': grantTerm ?? 0 });
  }

  /**
   * claimLeadership
   * - key: (namespace, leader)
   * - condition: the item does not exist; or it is vacant (its leader resigned) with the term
   *   `expected` shows; or leaderId, term and heartbeat are still as `expected` (the caller saw
   *   them unchanged for a leadership duration)
   * - updates: leaderId = caller, term = expected term + 1, heartbeat 0
   * - outcomes: `applied` with the new term | `conflict` (the leader renewed, or another took over)
   */
  claimLeadership(
    namespace: string,
    workerId: string,
    expected: LeadershipRecord | undefined,
  ): Promise<ConditionalWriteResult<LeadershipRecord>> {
    const term = (expected?.term ?? 0) + 1;
    const item: Item = {
      ...this.key(namespace, LEADERSHIP_ITEM_KEY),
      kind: 'leader',
      leaderId: workerId,
      term,
      heartbeat: 0,
      since: this.now(),
    };
    const condition =
      expected === undefined
        ? { ConditionExpression: 'attribute_not_exists(#sk)', ExpressionAttributeNames: { '#sk': SORT_KEY } }
        : expected.leaderId === undefined
          ? {
              ConditionExpression: 'attribute_not_exists(leaderId) AND term = :term',
              ExpressionAttributeValues: { ':term': expected.term },
            }
          : {
              ConditionExpression: 'leaderId = :leader AND term = :term AND heartbeat = :heartbeat',
              ExpressionAttributeValues: { ':leader': expected.leaderId, ':term': expected.term, ':heartbeat': expected.heartbeat },
            };
    return this.conditional('PutItem', async (options) => {
      await this.documents.send(new PutCommand({ TableName: this.tableName, Item: item, ...condition }), options);
      return decodeLeadership(item);
    });
  }

  /**
   * renewLeadership
   * - key: (namespace, leader)
   * - condition: leaderId = caller AND term = the caller's term
   * - updates: heartbeat + 1
   * - outcomes: `applied` | `conflict` (another worker took leadership over)
   */
  renewLeadership(held: LeadershipRecord): Promise<ConditionalWriteResult<LeadershipRecord>> {
    return this.conditional('UpdateItem', async (options) => {
      const { Attributes } = await this.documents.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(held.namespace, LEADERSHIP_ITEM_KEY),
          ConditionExpression: 'leaderId = :leader AND term = :term',
          UpdateExpression: 'SET heartbeat = heartbeat + :one, heartbeatAt = :now',
          ExpressionAttributeValues: { ':leader': held.leaderId, ':term': held.term, ':one': 1, ':now': this.now() },
          ReturnValues: 'ALL_NEW',
        }),
        options,
      );
      return decodeLeadership(Attributes ?? {});
    });
  }

  /**
   * resignLeadership
   * - key: (namespace, leader)
   * - condition: leaderId = caller AND term = the caller's term
   * - updates: removes leaderId (the row stays, vacant, with its term, so the next claim needs
   *   no wait and the next term is still higher)
   * - outcomes: `applied` | `conflict` (leadership had already passed on)
   */
  resignLeadership(held: LeadershipRecord): Promise<ConditionalWriteResult<void>> {
    return this.conditional('UpdateItem', async (options) => {
      await this.documents.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(held.namespace, LEADERSHIP_ITEM_KEY),
          ConditionExpression: 'leaderId = :leader AND term = :term',
          UpdateExpression: 'REMOVE leaderId SET resignedAt = :now',
          ExpressionAttributeValues: { ':leader': held.leaderId, ':term': held.term, ':now': this.now() },
        }),
        options,
      );
    });
  }

  private deleteWorker(
    namespace: string,
    workerId: string,
    condition: string,
    values: Record<string, unknown>,
  ): Promise<ConditionalWriteResult<void>> {
    return this.conditional('DeleteItem', async (options) => {
      await this.documents.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: this.key(namespace, workerItemKey(workerId)),
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
        }),
        options,
      );
    });
  }

  private updateWorker(
    namespace: string,
    workerId: string,
    updateExpression: string,
    values: Record<string, unknown>,
    names: Record<string, string> = {},
    extraCondition?: string,
  ): Promise<ConditionalWriteResult<WorkerRecord>> {
    return this.conditional('UpdateItem', async (options) => {
      const { Attributes } = await this.documents.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(namespace, workerItemKey(workerId)),
          ConditionExpression: extraCondition === undefined ? 'attribute_exists(#sk)' : `attribute_exists(#sk) AND ${extraCondition}`,
          UpdateExpression: updateExpression,
          ExpressionAttributeNames: { '#sk': SORT_KEY, ...names },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
        options,
      );
      return decodeWorker(Attributes ?? {});
    });
  }

  private update(input: Omit<UpdateCommandInput, 'TableName' | 'ReturnValues'>): Promise<ConditionalWriteResult<Lease>> {
    return this.conditional('UpdateItem', async (options) => {
      const { Attributes } = await this.documents.send(
        new UpdateCommand({ ...input, TableName: this.tableName, ReturnValues: 'ALL_NEW' }),
        options,
      );
      return decodeLease(Attributes ?? {});
    });
  }

  private fenced(ownership: LeaseOwnership, names: Record<string, string> = OWNERSHIP_NAMES) {
    return {
      Key: this.key(ownership.namespace, leaseItemKey(ownership.leaseKey)),
      ConditionExpression: '#owner = :owner AND #counter = :counter',
      ExpressionAttributeNames: names,
    };
  }

  private fencedValues(ownership: LeaseOwnership): Record<string, unknown> {
    return { ':owner': ownership.leaseOwner, ':counter': ownership.leaseCounter };
  }

  private key(namespace: string, itemKey: string): Record<string, string> {
    return { [PARTITION_KEY]: namespace, [SORT_KEY]: itemKey };
  }

  private async conditional<T>(operation: string, write: (options: SendOptions) => Promise<T>): Promise<ConditionalWriteResult<T>> {
    try {
      return { status: 'applied', value: await this.call(operation, write) };
    } catch (error) {
      if (error instanceof LeaseTableError && error.cause instanceof ConditionalCheckFailedException) return CONFLICT;
      throw error;
    }
  }

  /** One DynamoDB call, abandoned (and reported as a retryable timeout) after `requestTimeoutMs`. */
  private async call<T>(operation: string, send: (options: SendOptions) => Promise<T>): Promise<T> {
    try {
      return await withRequestTimeout(`DynamoDB ${operation}`, this.requestTimeoutMs, (abortSignal) => send({ abortSignal }));
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      throw new LeaseTableError(`DynamoDB ${operation} on ${this.tableName} failed: ${name}: ${messageOf(error)}`, {
        cause: error,
        retryable: name !== 'ConditionalCheckFailedException' && name !== 'ValidationException',
      });
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
