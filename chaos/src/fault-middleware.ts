import { setTimeout as sleep } from 'node:timers/promises';
import { ProvisionedThroughputExceededException as DynamoDbThrottled, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  ExpiredIteratorException,
  ProvisionedThroughputExceededException as KinesisThrottled,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import type { FaultSwitch } from './fault-switch.js';

/** Kinesis calls with a per-shard throughput limit (GetRecords 5/s, GetShardIterator 5/s). */
const THROTTLED_KINESIS_COMMANDS = new Set(['GetRecordsCommand', 'GetShardIteratorCommand']);

/**
 * DynamoDB faults, on a client the worker then uses:
 * - `dynamodb-delay`: the request is sent and answered, and the answer is then held back for
 *   `delayMs` (past the worker's request timeout), so the caller gives up on a write that was
 *   applied: the "unknown outcome" every DynamoDB caller must cope with.
 * - `dynamodb-throttle`: the call fails with ProvisionedThroughputExceededException before it is
 *   sent. The middleware sits inside the SDK's retry loop, so the SDK's own throttling retries
 *   (and their backoff) run as they would against AWS.
 */
export function injectDynamoDbFaults(client: DynamoDBClient, faults: FaultSwitch, delayMs: number): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const output = await next(args);
      if (faults.hits('dynamodb-delay')) await sleep(delayMs);
      return output;
    },
    { step: 'initialize', name: 'chaosDynamoDbDelay' },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (faults.hits('dynamodb-throttle')) {
        throw new DynamoDbThrottled({
          message: `The level of configured provisioned throughput for the table was exceeded (chaos, ${context.commandName ?? 'call'})`,
          $metadata: { httpStatusCode: 400 },
        });
      }
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'chaosDynamoDbThrottle' },
  );
}

/**
 * Kinesis faults:
 * - `kinesis-throttle`: GetRecords and GetShardIterator fail with
 *   ProvisionedThroughputExceededException (inside the SDK's retry loop, as on AWS);
 * - `kinesis-expired-iterator`: GetRecords fails with ExpiredIteratorException (never retried by
 *   the SDK: the consumer must get a new iterator from where it was).
 */
export function injectKinesisFaults(client: KinesisClient, faults: FaultSwitch): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetRecordsCommand' && faults.hits('kinesis-expired-iterator')) {
        throw new ExpiredIteratorException({ message: 'Iterator expired (chaos)', $metadata: { httpStatusCode: 400 } });
      }
      return next(args);
    },
    { step: 'initialize', name: 'chaosKinesisExpiredIterator' },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (THROTTLED_KINESIS_COMMANDS.has(context.commandName ?? '') && faults.hits('kinesis-throttle')) {
        throw new KinesisThrottled({ message: 'Rate exceeded for shard (chaos)', $metadata: { httpStatusCode: 400 } });
      }
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'chaosKinesisThrottle' },
  );
}
