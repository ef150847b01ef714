/**
 * `@shoal/local-stack`: Kinesis and DynamoDB emulators on free loopback ports, with AWS SDK v3
 * clients configured for them. Shared by the demo, the integration tests and the benchmarks.
 *
 * Each emulator (kinesalite or kinesis-local for Kinesis, dynalite for DynamoDB) runs in its
 * own child process, so it gets its own core, and exits when the process that started it
 * does. Clients use HTTP/1.1 (`NodeHttpHandler`): kinesalite can't serve HTTP/2.
 *
 * @example
 * ```ts
 * import { PutRecordCommand } from '@aws-sdk/client-kinesis';
 * import { LocalStack, uniqueName } from '@shoal/local-stack';
 *
 * await using stack = await LocalStack.start(); // or { kinesis: 'kinesis-local' }
 * const stream = uniqueName('orders');
 * await stack.createStream(stream, 4);
 * await stack.kinesis.send(
 *   new PutRecordCommand({ StreamName: stream, PartitionKey: 'k', Data: new TextEncoder().encode('hi') }),
 * );
 * // A worker process rebuilds clients from the environment:
 * //   spawn(..., { env: { ...process.env, ...stack.env() } })
 * //   const { kinesis, dynamodb } = createEmulatorClients(endpointsFromEnv()!);
 * ```
 *
 * @packageDocumentation
 */
export { LocalStack, type LocalStackOptions } from './local-stack.js';
export {
  EMULATOR_CREDENTIALS,
  createEmulatorClients,
  emulatorClientConfig,
  type EmulatorClientConfig,
  type EmulatorClients,
  type EmulatorCredentials,
  type EmulatorService,
} from './emulator-clients.js';
export { EMULATOR_ENV, endpointsFromEnv, endpointsToEnv, type EmulatorEndpoints } from './emulator-endpoints.js';
export type { EmulatorKind, KinesisEmulatorKind } from './emulator-kind.js';
export { EmulatorProcess, type EmulatorProcessOptions } from './emulator-process.js';
export { EmulatorStartError } from './emulator-start-error.js';
export { emulatorHostPath } from './host-script.js';
export { OutputTail } from './output-tail.js';
export { createStreamAndWait, deleteStreamAndWait, waitForStreamActive, type WaitOptions } from './streams.js';
export { uniqueName } from './unique-name.js';
export { acceptsConnections, freeLoopbackPort, waitUntilAccepting } from './loopback-ports.js';
export { RecordLedger } from './record-ledger.js';
export { parseRecordId, produceRecords, type ProduceRecordsOptions, type ProducedPayload } from './produce-records.js';
