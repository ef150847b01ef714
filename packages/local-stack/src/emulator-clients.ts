import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { EmulatorEndpoints } from './emulator-endpoints.js';

/** Static credentials. */
export interface EmulatorCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/**
 * The dummy credentials every emulator client signs with. The emulators don't check them;
 * kinesis-local files streams under its default account `000000000000` for any key that is not
 * a 12-digit account id.
 */
export const EMULATOR_CREDENTIALS: EmulatorCredentials = Object.freeze({
  accessKeyId: 'shoal-local',
  secretAccessKey: 'shoal-local',
});

/** The AWS services the local stack emulates. */
export type EmulatorService = 'kinesis' | 'dynamodb';

/**
 * A client configuration for one emulator, accepted by both `new KinesisClient(...)` and
 * `new DynamoDBClient(...)`. Spread it to add options: `new KinesisClient({ ...config, maxAttempts: 1 })`.
 */
export interface EmulatorClientConfig {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /**
   * HTTP/1.1: kinesalite can't serve HTTP/2 (the Kinesis client's default) and kinesis-local
   * serves it unreliably. A fresh handler per config, since destroying a client destroys it.
   */
  requestHandler: NodeHttpHandler;
}

/** The client configuration for `service` at `endpoints` (a new HTTP/1.1 handler each call). */
export function emulatorClientConfig(service: EmulatorService, endpoints: EmulatorEndpoints): EmulatorClientConfig {
  return {
    endpoint: service === 'kinesis' ? endpoints.kinesisEndpoint : endpoints.dynamodbEndpoint,
    region: endpoints.region,
    credentials: { ...EMULATOR_CREDENTIALS },
    requestHandler: new NodeHttpHandler(),
  };
}

/** A Kinesis and a DynamoDB client for the emulators. */
export interface EmulatorClients {
  readonly kinesis: KinesisClient;
  readonly dynamodb: DynamoDBClient;
}

/**
 * Builds clients for emulators started elsewhere, e.g. in a worker process that received the
 * endpoints through {@link endpointsToEnv}. The caller owns the clients (call `destroy()`).
 */
export function createEmulatorClients(endpoints: EmulatorEndpoints): EmulatorClients {
  return {
    kinesis: new KinesisClient(emulatorClientConfig('kinesis', endpoints)),
    dynamodb: new DynamoDBClient(emulatorClientConfig('dynamodb', endpoints)),
  };
}
