import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { withRequestTimeout } from '../aws/request-timeout.js';
import { PARTITION_KEY, SORT_KEY } from './item-codec.js';
import type { ConditionalWriteResult } from './lease.js';
import { LeaseTableError } from './lease-table-errors.js';

/** Options of every call: its abort signal fires at the request timeout. */
export interface SendOptions {
  readonly abortSignal: AbortSignal;
}

const CONFLICT = { status: 'conflict' } as const;

/**
 * The lease table as the writes of this folder use it: one document client, the table name,
 * keys, and the two ways a call ends, as a value or as a `LeaseTableError` (a lost condition
 * is turned into `conflict` by `conditional`). Every call is abandoned after the request
 * timeout, reported as retryable: a write so abandoned may still have been applied.
 */
export class DynamoDbTable {
  readonly documents: DynamoDBDocumentClient;

  constructor(
    readonly client: DynamoDBClient,
    readonly tableName: string,
    private readonly requestTimeoutMs: number,
    /** Epoch-millisecond clock for the informational timestamps. */
    readonly now: () => number,
  ) {
    this.documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  key(namespace: string, itemKey: string): Record<string, string> {
    return { [PARTITION_KEY]: namespace, [SORT_KEY]: itemKey };
  }

  /** Writes `item` only where no item has its key yet; `conflict` when one has. */
  putNew<T>(item: Record<string, unknown>, decode: (item: Record<string, unknown>) => T): Promise<ConditionalWriteResult<T>> {
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
      return decode(item);
    });
  }

  async conditional<T>(operation: string, write: (options: SendOptions) => Promise<T>): Promise<ConditionalWriteResult<T>> {
    try {
      return { status: 'applied', value: await this.call(operation, write) };
    } catch (error) {
      if (error instanceof LeaseTableError && error.cause instanceof ConditionalCheckFailedException) return CONFLICT;
      throw error;
    }
  }

  /** One DynamoDB call, abandoned (and reported as a retryable timeout) after the request timeout. */
  async call<T>(operation: string, send: (options: SendOptions) => Promise<T>): Promise<T> {
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
