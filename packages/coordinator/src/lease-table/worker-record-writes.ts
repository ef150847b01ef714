import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDbTable } from './dynamodb-table.js';
import { SORT_KEY, decodeWorker, workerItemKey, type Item } from './item-codec.js';
import type { ConditionalWriteResult, WorkerLivenessMode, WorkerRecord, WorkerRegistration } from './lease.js';

/** The conditional writes on worker records (`worker#<workerId>`); each header gives key, condition, updates and outcomes. */
export class WorkerRecordWrites {
  constructor(private readonly table: DynamoDbTable) {}

  /**
   * registerWorker
   * - key: (namespace, worker#<workerId>)
   * - condition: the item does not exist (worker ids are unique per process)
   * - updates: the whole item; heartbeat 0, status as given (active by default), liveness `table`
   * - outcomes: `applied` | `conflict` (a worker with this id is registered already)
   */
  async registerWorker(
    namespace: string,
    workerId: string,
    { host, fleetKey, streams, ownPlanSubject, status = 'active' }: WorkerRegistration = {},
  ): Promise<ConditionalWriteResult<WorkerRecord>> {
    const item: Item = {
      ...this.table.key(namespace, workerItemKey(workerId)),
      kind: 'worker',
      workerId,
      heartbeat: 0,
      status,
      liveness: 'table',
      startedAt: this.table.now(),
      ...(host === undefined ? {} : { host }),
      ...(fleetKey === undefined ? {} : { fleetKey }),
      ...(streams === undefined ? {} : { streams: [...streams] }),
      ...(ownPlanSubject === true ? { ownPlanSubject: true } : {}),
    };
    return this.table.putNew(item, decodeWorker);
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
      ':now': this.table.now(),
    });
  }

  /**
   * setWorkerStreams
   * - key: the worker record
   * - condition: the item exists
   * - updates: streams (the streams the worker consumes now)
   * - outcomes: `applied` | `conflict` (the record is gone)
   */
  setWorkerStreams(namespace: string, workerId: string, streams: readonly string[]): Promise<ConditionalWriteResult<WorkerRecord>> {
    return this.updateWorker(namespace, workerId, 'SET #streams = :streams', { ':streams': [...streams] }, { '#streams': 'streams' });
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

  async deregisterWorker(namespace: string, workerId: string): Promise<void> {
    await this.table.call('DeleteItem', (options) =>
      this.table.documents.send(
        new DeleteCommand({ TableName: this.table.tableName, Key: this.table.key(namespace, workerItemKey(workerId)) }),
        options,
      ),
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
      {
        ':from': toNats ? 'table' : 'nats',
        ':to': to,
        ':one': 1,
        ':now': this.table.now(),
        ...(toNats ? { ':term': grantTerm ?? 0 } : {}),
      },
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

  private deleteWorker(
    namespace: string,
    workerId: string,
    condition: string,
    values: Record<string, unknown>,
  ): Promise<ConditionalWriteResult<void>> {
    return this.table.conditional('DeleteItem', async (options) => {
      await this.table.documents.send(
        new DeleteCommand({
          TableName: this.table.tableName,
          Key: this.table.key(namespace, workerItemKey(workerId)),
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
    return this.table.conditional('UpdateItem', async (options) => {
      const { Attributes } = await this.table.documents.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: this.table.key(namespace, workerItemKey(workerId)),
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
}
