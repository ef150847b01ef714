/**
 * A DynamoDB client for benchmarks that meters what it asks of DynamoDB: calls by operation
 * (once per call, however often the SDK retries it), and the capacity units DynamoDB reports for
 * them (every call asks for `ReturnConsumedCapacity: TOTAL`; dynalite reports it as DynamoDB
 * does: reads by 4 KiB of items, halved when eventually consistent; writes by 1 KiB).
 */
import type { EmulatorClientConfig, LocalStack } from '@shoal/local-stack';

type DynamoDbClient = LocalStack['dynamodb'];

/** lib-dynamodb commands run as their low-level commands; these names cover both spellings. */
const OPERATIONS: Record<string, string> = {
  Put: 'PutItem',
  Get: 'GetItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchWrite: 'BatchWriteItem',
  BatchGet: 'BatchGetItem',
  TransactWrite: 'TransactWriteItems',
  TransactGet: 'TransactGetItems',
};
export const WRITE_OPERATIONS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
export const READ_OPERATIONS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);
const METERED = new Set([...WRITE_OPERATIONS, ...READ_OPERATIONS]);

/** What one client asked of DynamoDB so far. */
export class DynamoDbMeter {
  readonly calls = new Map<string, number>();
  readUnits = 0;
  writeUnits = 0;
  /** Calls whose answer reported no consumed capacity (counted as calls only). */
  unmetered = 0;

  /** A copy of the figures now, to subtract from later ones. */
  snapshot(): MeterReading {
    return { calls: new Map(this.calls), readUnits: this.readUnits, writeUnits: this.writeUnits };
  }

  since(earlier: MeterReading): MeterReading {
    const calls = new Map<string, number>();
    for (const [operation, count] of this.calls) {
      const delta = count - (earlier.calls.get(operation) ?? 0);
      if (delta > 0) calls.set(operation, delta);
    }
    return { calls, readUnits: this.readUnits - earlier.readUnits, writeUnits: this.writeUnits - earlier.writeUnits };
  }
}

export interface MeterReading {
  readonly calls: ReadonlyMap<string, number>;
  readonly readUnits: number;
  readonly writeUnits: number;
}

export function callsOf(reading: MeterReading, kinds: ReadonlySet<string>): number {
  let total = 0;
  for (const [operation, count] of reading.calls) if (kinds.has(operation)) total += count;
  return total;
}

/** Sums readings (one per worker). */
export function totalOf(readings: readonly MeterReading[]): MeterReading {
  const calls = new Map<string, number>();
  for (const reading of readings) for (const [operation, count] of reading.calls) calls.set(operation, (calls.get(operation) ?? 0) + count);
  return {
    calls,
    readUnits: readings.reduce((sum, reading) => sum + reading.readUnits, 0),
    writeUnits: readings.reduce((sum, reading) => sum + reading.writeUnits, 0),
  };
}

/**
 * A client of the same class the runtime checks with `instanceof` (taken from the local stack's
 * own client, so the bench needs no dependency of its own on the SDK package), metered by `meter`.
 */
export function meteredClient(stack: LocalStack, meter: DynamoDbMeter): DynamoDbClient {
  const ClientClass = stack.dynamodb.constructor as new (config: EmulatorClientConfig) => DynamoDbClient;
  const client = new ClientClass(stack.clientConfig('dynamodb'));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const raw = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      const operation = OPERATIONS[raw] ?? raw;
      meter.calls.set(operation, (meter.calls.get(operation) ?? 0) + 1);
      if (!METERED.has(operation)) return next(args);
      const input = args.input as { ReturnConsumedCapacity?: string };
      input.ReturnConsumedCapacity ??= 'TOTAL';
      const result = await next(args);
      const consumed = (result.output as { ConsumedCapacity?: { CapacityUnits?: number } }).ConsumedCapacity;
      if (consumed?.CapacityUnits === undefined) meter.unmetered += 1;
      else if (WRITE_OPERATIONS.has(operation)) meter.writeUnits += consumed.CapacityUnits;
      else meter.readUnits += consumed.CapacityUnits;
      return result;
    },
    { step: 'initialize', name: 'benchDynamoDbMeter' },
  );
  return client;
}
