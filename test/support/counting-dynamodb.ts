import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LocalStack } from '@shoal/local-stack';

/** One DynamoDB call as the counting client saw it. */
export interface DynamoDbCall {
  /** The low-level operation: `Query`, `GetItem`, `PutItem`, ... */
  readonly operation: string;
  /** The index a query read, if any. */
  readonly indexName: string | undefined;
  /** What a `PutItem` wrote (`lease`, `worker`, ...), by the item's `kind` or key prefix. */
  readonly itemKind: string | undefined;
}

/** lib-dynamodb commands run as their low-level commands; these names cover both spellings. */
const OPERATIONS: Record<string, string> = { Put: 'PutItem', Get: 'GetItem', Update: 'UpdateItem', Delete: 'DeleteItem' };

/** A DynamoDB client on the local stack that records every call it makes (once per call, not per retry). */
export function countingDynamoDb(stack: LocalStack): { client: DynamoDBClient; calls: DynamoDbCall[] } {
  const client = new DynamoDBClient(stack.clientConfig('dynamodb'));
  const calls: DynamoDbCall[] = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      const raw = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      const input = args.input as { IndexName?: string; Item?: Record<string, unknown> };
      calls.push({ operation: OPERATIONS[raw] ?? raw, indexName: input.IndexName, itemKind: kindOf(input.Item) });
      return next(args);
    },
    { step: 'initialize', name: 'testCallCounter' },
  );
  return { client, calls };
}

/** The item's `kind`, marshalled or not. */
function kindOf(item: Record<string, unknown> | undefined): string | undefined {
  const kind = item?.kind as string | { S?: string } | undefined;
  return typeof kind === 'string' ? kind : kind?.S;
}
