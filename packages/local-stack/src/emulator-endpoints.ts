/**
 * Where the emulators listen: plain strings, so they can cross a process boundary (JSON,
 * environment variables) and be turned back into clients with {@link createEmulatorClients}.
 */
export interface EmulatorEndpoints {
  /** Kinesis endpoint, `http://127.0.0.1:<port>`. */
  readonly kinesisEndpoint: string;
  /** DynamoDB endpoint, `http://127.0.0.1:<port>`. */
  readonly dynamodbEndpoint: string;
  /** AWS region the clients use. */
  readonly region: string;
}

/** Environment variable names used by {@link endpointsToEnv} and {@link endpointsFromEnv}. */
export const EMULATOR_ENV = {
  kinesisEndpoint: 'SHOAL_KINESIS_ENDPOINT',
  dynamodbEndpoint: 'SHOAL_DYNAMODB_ENDPOINT',
  region: 'SHOAL_AWS_REGION',
} as const;

/**
 * The endpoints as environment variables (`SHOAL_KINESIS_ENDPOINT`, `SHOAL_DYNAMODB_ENDPOINT`,
 * `SHOAL_AWS_REGION`), to pass to a worker process's `env`.
 */
export function endpointsToEnv(endpoints: EmulatorEndpoints): Record<string, string> {
  return {
    [EMULATOR_ENV.kinesisEndpoint]: endpoints.kinesisEndpoint,
    [EMULATOR_ENV.dynamodbEndpoint]: endpoints.dynamodbEndpoint,
    [EMULATOR_ENV.region]: endpoints.region,
  };
}

/**
 * Reads endpoints written by {@link endpointsToEnv}.
 *
 * @param env - defaults to `process.env`.
 * @returns the endpoints, or `undefined` if either endpoint variable is missing.
 *   The region defaults to `us-east-1`.
 */
export function endpointsFromEnv(env: NodeJS.ProcessEnv = process.env): EmulatorEndpoints | undefined {
  const kinesisEndpoint = env[EMULATOR_ENV.kinesisEndpoint];
  const dynamodbEndpoint = env[EMULATOR_ENV.dynamodbEndpoint];
  if (kinesisEndpoint === undefined || kinesisEndpoint === '') return undefined;
  if (dynamodbEndpoint === undefined || dynamodbEndpoint === '') return undefined;
  const region = env[EMULATOR_ENV.region];
  return { kinesisEndpoint, dynamodbEndpoint, region: region === undefined || region === '' ? 'us-east-1' : region };
}
