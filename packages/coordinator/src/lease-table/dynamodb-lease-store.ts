import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, QueryCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Checkpoint } from '@shoal/processor-sdk';
import { DynamoDbTable } from './dynamodb-table.js';
import { ensureLeaseTable } from './ensure-lease-table.js';
import {
  LEADERSHIP_ITEM_KEY,
  OWNER_INDEX_NAME,
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
} from './item-codec.js';
import type {
  ConditionalWriteResult,
  Lease,
  LeadershipRecord,
  LeaseOwnership,
  NewLease,
  WorkerLivenessMode,
  WorkerRecord,
  WorkerRegistration,
} from './lease.js';
import { LeaseTableError } from './lease-table-errors.js';
import type { LeaseStore, MalformedRow, NamespaceReadOptions, NamespaceSnapshot, OwnedLeaseRef } from './lease-store.js';
import { LeadershipWrites } from './leadership-writes.js';
import { WorkerRecordWrites } from './worker-record-writes.js';

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

const CONFLICT = { status: 'conflict' } as const;

/**
 * Attribute names for expressions, clear of DynamoDB's reserved words. DynamoDB rejects names
 * an expression does not use, hence two sets.
 */
const OWNERSHIP_NAMES = { '#owner': 'leaseOwner', '#counter': 'leaseCounter' } as const;
const HANDOFF_NAMES = { ...OWNERSHIP_NAMES, '#pending': 'pendingOwner' } as const;

/**
 * {@link LeaseStore} on DynamoDB. This folder holds every conditional write Shoal makes, each
 * with a header giving its key, condition, updates and outcomes: lease writes here, worker
 * records in `worker-record-writes.ts`, the leadership row in `leadership-writes.ts`.
 */
export class DynamoDbLeaseStore implements LeaseStore {
  private readonly table: DynamoDbTable;
  private readonly workers: WorkerRecordWrites;
  private readonly leadership: LeadershipWrites;
  /** Whether the table has the owner index; unknown until `ensureTable` or the first query says. */
  private hasOwnerIndex: boolean | undefined;

  constructor(options: DynamoDbLeaseStoreOptions) {
    this.table = new DynamoDbTable(options.client, options.tableName, options.requestTimeoutMs ?? 2_000, options.now ?? Date.now);
    this.workers = new WorkerRecordWrites(this.table);
    this.leadership = new LeadershipWrites(this.table);
  }

  async ensureTable(): Promise<void> {
    const { hasOwnerIndex } = await ensureLeaseTable(this.table.client, this.table.tableName);
    this.hasOwnerIndex = hasOwnerIndex;
  }

  /** Reads every lease and worker record of the namespace (all pages). */
  async readNamespace(namespace: string, { consistency }: NamespaceReadOptions = { consistency: 'strong' }): Promise<NamespaceSnapshot> {
    const leases: Lease[] = [];
    const malformed: MalformedRow[] = [];
    const workers: WorkerRecord[] = [];
    let leadership: LeadershipRecord | undefined;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.table.call('Query', (options) =>
        this.table.documents.send(
          new QueryCommand({
            TableName: this.table.tableName,
            KeyConditionExpression: '#ns = :ns',
            ExpressionAttributeNames: { '#ns': PARTITION_KEY },
            ExpressionAttributeValues: { ':ns': namespace },
            ConsistentRead: consistency === 'strong',
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

  async listOwnedLeases(namespace: string, owner: string): Promise<readonly OwnedLeaseRef[] | undefined> {
    if (this.hasOwnerIndex === false) return undefined;
    const refs: OwnedLeaseRef[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const page = await this.table.call('Query', (options) =>
          this.table.documents.send(
            new QueryCommand({
              TableName: this.table.tableName,
              IndexName: OWNER_INDEX_NAME,
              KeyConditionExpression: '#owner = :owner AND #ns = :ns',
              ExpressionAttributeNames: { '#owner': 'leaseOwner', '#ns': PARTITION_KEY },
              ExpressionAttributeValues: { ':owner': owner, ':ns': namespace },
              ExclusiveStartKey: startKey,
            }),
            options,
          ),
        );
        for (const item of page.Items ?? []) {
          if (!isLeaseItem(item)) continue;
          refs.push({
            leaseKey: leaseKeyOf(String(item[SORT_KEY])),
            leaseCounter: Number(item.leaseCounter ?? 0),
            pendingOwner: typeof item.pendingOwner === 'string' ? item.pendingOwner : undefined,
          });
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey);
    } catch (error) {
      if (isMissingIndex(error)) {
        this.hasOwnerIndex = false;
        return undefined;
      }
      throw error;
    }
    this.hasOwnerIndex = true;
    return refs;
  }

  async getLease(namespace: string, leaseKey: string): Promise<Lease | undefined> {
    const { Item: item } = await this.table.call('GetItem', (options) =>
      this.table.documents.send(
        new GetCommand({ TableName: this.table.tableName, Key: this.table.key(namespace, leaseItemKey(leaseKey)), ConsistentRead: true }),
        options,
      ),
    );
    if (!item) return undefined;
    const problem = leaseItemProblem(item);
    if (problem !== undefined) {
      throw new LeaseTableError(`lease row ${String(item[SORT_KEY])} in ${this.table.tableName} is malformed: ${problem}`, {
        retryable: false,
      });
    }
    return decodeLease(item);
  }

  async getWorker(namespace: string, workerId: string): Promise<WorkerRecord | undefined> {
    const { Item: item } = await this.table.call('GetItem', (options) =>
      this.table.documents.send(
        new GetCommand({ TableName: this.table.tableName, Key: this.table.key(namespace, workerItemKey(workerId)), ConsistentRead: true }),
        options,
      ),
    );
    return item ? decodeWorker(item) : undefined;
  }

  async getLeadership(namespace: string): Promise<LeadershipRecord | undefined> {
    const { Item: item } = await this.table.call('GetItem', (options) =>
      this.table.documents.send(
        new GetCommand({ TableName: this.table.tableName, Key: this.table.key(namespace, LEADERSHIP_ITEM_KEY), ConsistentRead: true }),
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
    const item = newLeaseItem(namespace, lease, this.table.now());
    return this.table.putNew(item, decodeLease);
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
      Key: this.table.key(expected.namespace, leaseItemKey(expected.leaseKey)),
      ConditionExpression: `${ownerCondition} AND #counter = :expectedCounter`,
      UpdateExpression: 'SET #owner = :newOwner, #counter = #counter + :one, ownerSince = :now REMOVE #pending',
      ExpressionAttributeNames: HANDOFF_NAMES,
      ExpressionAttributeValues: {
        ...(expected.leaseOwner === undefined ? {} : { ':expectedOwner': expected.leaseOwner }),
        ':expectedCounter': expected.leaseCounter,
        ':newOwner': newOwner,
        ':one': 1,
        ':now': this.table.now(),
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
      Key: this.table.key(expected.namespace, leaseItemKey(expected.leaseKey)),
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
      ExpressionAttributeValues: { ...this.fencedValues(ownership), ':newOwner': newOwner, ':one': 1, ':now': this.table.now() },
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
        ':now': this.table.now(),
        ...(encoded.checkpointTimestamp === undefined ? {} : { ':ts': encoded.checkpointTimestamp }),
      },
    });
  }

  /**
   * resetCheckpoint
   * - key: the lease
   * - condition: owner as read (or no owner) AND counter as read AND the checkpoint is not
   *   SHARD_END (a finished shard's children may have started: moving it back would reorder keys)
   * - updates: checkpoint, sub-sequence, timestamp, checkpointedAt; counter + 1; owner and
   *   pending owner removed, so the owner's next fenced write fails and anyone may take the lease
   * - outcomes: `applied` | `conflict` (the lease changed since it was read, or its shard is finished)
   */
  resetCheckpoint(expected: Lease, checkpoint: Exclude<Checkpoint, { type: 'SHARD_END' }>): Promise<ConditionalWriteResult<Lease>> {
    const encoded = encodeCheckpoint(checkpoint);
    const ownerCondition = expected.leaseOwner === undefined ? 'attribute_not_exists(#owner)' : '#owner = :expectedOwner';
    return this.update({
      Key: this.table.key(expected.namespace, leaseItemKey(expected.leaseKey)),
      ConditionExpression: `${ownerCondition} AND #counter = :expectedCounter AND checkpoint <> :shardEnd`,
      UpdateExpression:
        'SET checkpoint = :checkpoint, checkpointSubSequence = :sub, checkpointedAt = :now, #counter = #counter + :one' +
        (encoded.checkpointTimestamp === undefined ? '' : ', checkpointTimestamp = :ts') +
        ' REMOVE #owner, #pending' +
        (encoded.checkpointTimestamp === undefined ? ', checkpointTimestamp' : ''),
      ExpressionAttributeNames: HANDOFF_NAMES,
      ExpressionAttributeValues: {
        ...(expected.leaseOwner === undefined ? {} : { ':expectedOwner': expected.leaseOwner }),
        ':expectedCounter': expected.leaseCounter,
        ':shardEnd': encodeCheckpoint({ type: 'SHARD_END' }).checkpoint,
        ':checkpoint': encoded.checkpoint,
        ':sub': encoded.checkpointSubSequence,
        ':now': this.table.now(),
        ':one': 1,
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
    return this.table.conditional('DeleteItem', async (options) => {
      await this.table.documents.send(
        new DeleteCommand({
          TableName: this.table.tableName,
          Key: this.table.key(namespace, leaseItemKey(leaseKey)),
          ConditionExpression: 'checkpoint = :end',
          ExpressionAttributeValues: { ':end': 'SHARD_END' },
        }),
        options,
      );
    });
  }

  /** Unconditional: a worker removes its own record when it stops. */
  private update(input: Omit<UpdateCommandInput, 'TableName' | 'ReturnValues'>): Promise<ConditionalWriteResult<Lease>> {
    return this.table.conditional('UpdateItem', async (options) => {
      const { Attributes } = await this.table.documents.send(
        new UpdateCommand({ ...input, TableName: this.table.tableName, ReturnValues: 'ALL_NEW' }),
        options,
      );
      return decodeLease(Attributes ?? {});
    });
  }

  private fenced(ownership: LeaseOwnership, names: Record<string, string> = OWNERSHIP_NAMES) {
    return {
      Key: this.table.key(ownership.namespace, leaseItemKey(ownership.leaseKey)),
      ConditionExpression: '#owner = :owner AND #counter = :counter',
      ExpressionAttributeNames: names,
    };
  }

  private fencedValues(ownership: LeaseOwnership): Record<string, unknown> {
    return { ':owner': ownership.leaseOwner, ':counter': ownership.leaseCounter };
  }

  registerWorker(namespace: string, workerId: string, registration?: WorkerRegistration): Promise<ConditionalWriteResult<WorkerRecord>> {
    return this.workers.registerWorker(namespace, workerId, registration);
  }

  heartbeatWorker(namespace: string, workerId: string): Promise<ConditionalWriteResult<WorkerRecord>> {
    return this.workers.heartbeatWorker(namespace, workerId);
  }

  markWorkerLeaving(namespace: string, workerId: string): Promise<ConditionalWriteResult<WorkerRecord>> {
    return this.workers.markWorkerLeaving(namespace, workerId);
  }

  setWorkerStreams(namespace: string, workerId: string, streams: readonly string[]): Promise<ConditionalWriteResult<WorkerRecord>> {
    return this.workers.setWorkerStreams(namespace, workerId, streams);
  }

  deregisterWorker(namespace: string, workerId: string): Promise<void> {
    return this.workers.deregisterWorker(namespace, workerId);
  }

  removeDeadWorker(namespace: string, workerId: string, observedHeartbeat: number): Promise<ConditionalWriteResult<void>> {
    return this.workers.removeDeadWorker(namespace, workerId, observedHeartbeat);
  }

  switchWorkerLiveness(
    namespace: string,
    workerId: string,
    to: WorkerLivenessMode,
    grantTerm?: number,
  ): Promise<ConditionalWriteResult<WorkerRecord>> {
    return this.workers.switchWorkerLiveness(namespace, workerId, to, grantTerm);
  }

  repointWorkerGrants(
    namespace: string,
    workerId: string,
    fromTerm: number,
    toTerm: number,
  ): Promise<ConditionalWriteResult<WorkerRecord>> {
    return this.workers.repointWorkerGrants(namespace, workerId, fromTerm, toTerm);
  }

  revokeWorker(namespace: string, workerId: string, grantTerm: number | undefined): Promise<ConditionalWriteResult<void>> {
    return this.workers.revokeWorker(namespace, workerId, grantTerm);
  }

  claimLeadership(
    namespace: string,
    workerId: string,
    expected: LeadershipRecord | undefined,
  ): Promise<ConditionalWriteResult<LeadershipRecord>> {
    return this.leadership.claimLeadership(namespace, workerId, expected);
  }

  renewLeadership(held: LeadershipRecord): Promise<ConditionalWriteResult<LeadershipRecord>> {
    return this.leadership.renewLeadership(held);
  }

  resignLeadership(held: LeadershipRecord): Promise<ConditionalWriteResult<void>> {
    return this.leadership.resignLeadership(held);
  }
}

/** DynamoDB's answer to a query on an index the table does not have. */
function isMissingIndex(error: unknown): boolean {
  const cause = error instanceof LeaseTableError ? error.cause : error;
  return cause instanceof Error && cause.name === 'ValidationException' && /index/i.test(cause.message);
}
