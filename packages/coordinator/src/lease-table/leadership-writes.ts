import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDbTable } from './dynamodb-table.js';
import { LEADERSHIP_ITEM_KEY, SORT_KEY, decodeLeadership, type Item } from './item-codec.js';
import type { ConditionalWriteResult, LeadershipRecord } from './lease.js';

/** The conditional writes on the namespace's leadership row (`leader`); each header gives key, condition, updates and outcomes. */
export class LeadershipWrites {
  constructor(private readonly table: DynamoDbTable) {}

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
      ...this.table.key(namespace, LEADERSHIP_ITEM_KEY),
      kind: 'leader',
      leaderId: workerId,
      term,
      heartbeat: 0,
      since: this.table.now(),
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
    return this.table.conditional('PutItem', async (options) => {
      await this.table.documents.send(new PutCommand({ TableName: this.table.tableName, Item: item, ...condition }), options);
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
    return this.table.conditional('UpdateItem', async (options) => {
      const { Attributes } = await this.table.documents.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: this.table.key(held.namespace, LEADERSHIP_ITEM_KEY),
          ConditionExpression: 'leaderId = :leader AND term = :term',
          UpdateExpression: 'SET heartbeat = heartbeat + :one, heartbeatAt = :now',
          ExpressionAttributeValues: { ':leader': held.leaderId, ':term': held.term, ':one': 1, ':now': this.table.now() },
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
    return this.table.conditional('UpdateItem', async (options) => {
      await this.table.documents.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: this.table.key(held.namespace, LEADERSHIP_ITEM_KEY),
          ConditionExpression: 'leaderId = :leader AND term = :term',
          UpdateExpression: 'REMOVE leaderId SET resignedAt = :now',
          ExpressionAttributeValues: { ':leader': held.leaderId, ':term': held.term, ':now': this.table.now() },
        }),
        options,
      );
    });
  }
}
