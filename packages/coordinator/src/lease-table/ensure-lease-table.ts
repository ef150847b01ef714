import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  type DynamoDBClient,
  type GlobalSecondaryIndexDescription,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { OWNER_INDEX_NAME, OWNER_INDEX_PROJECTED, PARTITION_KEY, SORT_KEY } from './item-codec.js';
import { LeaseTableSchemaError } from './lease-table-errors.js';

export interface EnsureLeaseTableOptions {
  /** How long to wait for a new table to become ACTIVE. */
  readonly timeoutMs?: number;
  readonly pollIntervalMs?: number;
}

/** What `ensureLeaseTable` found. */
export interface LeaseTableInfo {
  /** The owner index exists and is ACTIVE (a table created before Shoal had it lacks it). */
  readonly hasOwnerIndex: boolean;
}

/**
 * Creates the lease table (on-demand billing, with its owner index) when it does not exist and
 * waits until it is ACTIVE. An existing table must have Shoal's key schema; otherwise this throws
 * {@link LeaseTableSchemaError} naming what differs, before anything is written. An existing
 * table without the owner index is used as it is (see `LeaseStore.listOwnedLeases`).
 */
export async function ensureLeaseTable(
  client: DynamoDBClient,
  tableName: string,
  options: EnsureLeaseTableOptions = {},
): Promise<LeaseTableInfo> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  let table = await describe(client, tableName);
  if (!table) {
    try {
      await client.send(
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
          GlobalSecondaryIndexes: [
            {
              IndexName: OWNER_INDEX_NAME,
              KeySchema: [
                { AttributeName: 'leaseOwner', KeyType: 'HASH' },
                { AttributeName: PARTITION_KEY, KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...OWNER_INDEX_PROJECTED] },
            },
          ],
        }),
      );
    } catch (error) {
      // Another worker created it first: fine, wait for it below.
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    table = await describe(client, tableName);
  }
  assertKeySchema(tableName, table);
  const deadline = Date.now() + timeoutMs;
  while (table?.TableStatus !== 'ACTIVE') {
    if (Date.now() > deadline) {
      throw new LeaseTableSchemaError(
        `lease table ${tableName} did not become ACTIVE within ${timeoutMs} ms (status ${table?.TableStatus ?? 'missing'})`,
        { retryable: true },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
    table = await describe(client, tableName);
  }
  const ownerIndex = table.GlobalSecondaryIndexes?.find((index) => index.IndexName === OWNER_INDEX_NAME);
  const active = ownerIndex !== undefined && (ownerIndex.IndexStatus === undefined || ownerIndex.IndexStatus === 'ACTIVE');
  return { hasOwnerIndex: active && isOwnerIndex(ownerIndex) };
}

/**
 * An index of that name made by hand with other keys or a narrower projection would answer the
 * owner query wrongly (or not at all): only Shoal's own shape counts as the owner index.
 */
function isOwnerIndex(index: GlobalSecondaryIndexDescription): boolean {
  const keys = index.KeySchema ?? [];
  const hash = keys.find((key) => key.KeyType === 'HASH')?.AttributeName;
  const range = keys.find((key) => key.KeyType === 'RANGE')?.AttributeName;
  const projection = index.Projection;
  const projects =
    projection?.ProjectionType === 'ALL' ||
    (projection?.ProjectionType === 'INCLUDE' && OWNER_INDEX_PROJECTED.every((name) => projection.NonKeyAttributes?.includes(name)));
  return hash === 'leaseOwner' && range === PARTITION_KEY && projects;
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

function assertKeySchema(tableName: string, table: TableDescription | undefined): void {
  const keys = table?.KeySchema ?? [];
  const hash = keys.find((key) => key.KeyType === 'HASH')?.AttributeName;
  const range = keys.find((key) => key.KeyType === 'RANGE')?.AttributeName;
  const types = new Map((table?.AttributeDefinitions ?? []).map((d) => [d.AttributeName, d.AttributeType]));
  if (hash !== PARTITION_KEY || range !== SORT_KEY || types.get(PARTITION_KEY) !== 'S' || types.get(SORT_KEY) !== 'S') {
    const found = keys.map((key) => `${key.AttributeName} (${key.KeyType}, ${types.get(key.AttributeName ?? '') ?? '?'})`);
    throw new LeaseTableSchemaError(
      `table ${tableName} exists but is not a Shoal lease table: expected key schema ` +
        `${PARTITION_KEY} (HASH, S) + ${SORT_KEY} (RANGE, S), found ${found.join(' + ') || 'none'}. ` +
        `Choose another leaseTableName or delete the table.`,
    );
  }
}
