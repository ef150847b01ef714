import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  EMULATOR_CREDENTIALS,
  emulatorClientConfig,
  type EmulatorClientConfig,
  type EmulatorCredentials,
  type EmulatorService,
} from './emulator-clients.js';
import { endpointsToEnv, type EmulatorEndpoints } from './emulator-endpoints.js';
import type { KinesisEmulatorKind } from './emulator-kind.js';
import { EmulatorProcess } from './emulator-process.js';
import { EmulatorStartError } from './emulator-start-error.js';
import { createStreamAndWait, deleteStreamAndWait, waitForStreamActive, type WaitOptions } from './streams.js';
import type { StreamDescriptionSummary } from '@aws-sdk/client-kinesis';

/** Options for {@link LocalStack.start}. */
export interface LocalStackOptions {
  /**
   * Which Kinesis emulator to run. `kinesalite` (default) is fast; `kinesis-local` is 20–40×
   * slower but has UpdateShardCount, stream consumers and SubscribeToShard (HTTP/1.1 only),
   * ChildShards, a real MillisBehindLatest and ListShards ShardFilter.
   */
  kinesis?: KinesisEmulatorKind;
  /** Total shards the Kinesis emulator allows across all streams. Default 200. */
  shardLimit?: number;
  /** Region of the clients (and kinesis-local's default region). Default `us-east-1`. */
  region?: string;
  /** How long each emulator may take to come up. Default 20 000 ms. */
  startTimeoutMs?: number;
  /** kinesis-local `LOG_LEVEL`; its output is only kept for error messages. Default `WARN`. */
  kinesisLogLevel?: string;
}

const KINESIS_EMULATORS: readonly KinesisEmulatorKind[] = ['kinesalite', 'kinesis-local'];
const DEFAULT_SHARD_LIMIT = 200;
const DEFAULT_REGION = 'us-east-1';
const DEFAULT_START_TIMEOUT_MS = 20_000;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Polls ListStreams until the emulator answers (kinesis-local binds before it serves). */
async function waitUntilServing(endpoints: EmulatorEndpoints, timeoutMs: number): Promise<void> {
  const probe = new KinesisClient({
    ...emulatorClientConfig('kinesis', endpoints),
    requestHandler: new NodeHttpHandler({ connectionTimeout: 1_000, requestTimeout: 5_000 }),
    maxAttempts: 1,
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await probe.send(new ListStreamsCommand({}));
        return;
      } catch (err) {
        if (Date.now() >= deadline) throw err;
      }
      await sleep(50);
    }
  } finally {
    probe.destroy();
  }
}

/**
 * A Kinesis emulator (kinesalite or kinesis-local) and dynalite, each in its own child process
 * on a free 127.0.0.1 port, with AWS SDK v3 clients configured for them.
 *
 * Start with {@link LocalStack.start}; stop with {@link LocalStack.stop} or `await using`.
 * The emulators also exit on their own when this process exits or dies.
 */
export class LocalStack implements AsyncDisposable {
  /** Which Kinesis emulator runs. */
  readonly kinesisEmulator: KinesisEmulatorKind;
  /** Region of the clients. */
  readonly region: string;
  /** Kinesis endpoint, `http://127.0.0.1:<port>`. */
  readonly kinesisEndpoint: string;
  /** DynamoDB endpoint, `http://127.0.0.1:<port>`. */
  readonly dynamodbEndpoint: string;
  /** The dummy static credentials the clients use. */
  readonly credentials: EmulatorCredentials = EMULATOR_CREDENTIALS;
  /** Kinesis client for the emulator (HTTP/1.1). Destroyed by {@link stop}. */
  readonly kinesis: KinesisClient;
  /** DynamoDB client for dynalite (HTTP/1.1). Destroyed by {@link stop}. */
  readonly dynamodb: DynamoDBClient;
  readonly #kinesisProcess: EmulatorProcess;
  readonly #dynamodbProcess: EmulatorProcess;
  #stopping: Promise<void> | undefined;

  private constructor(region: string, kinesisProcess: EmulatorProcess, dynamodbProcess: EmulatorProcess) {
    this.kinesisEmulator = kinesisProcess.kind === 'kinesis-local' ? 'kinesis-local' : 'kinesalite';
    this.region = region;
    this.kinesisEndpoint = kinesisProcess.endpoint;
    this.dynamodbEndpoint = dynamodbProcess.endpoint;
    this.#kinesisProcess = kinesisProcess;
    this.#dynamodbProcess = dynamodbProcess;
    this.kinesis = new KinesisClient(this.clientConfig('kinesis'));
    this.dynamodb = new DynamoDBClient(this.clientConfig('dynamodb'));
  }

  /**
   * Starts the Kinesis emulator and dynalite (concurrently) and resolves once both serve.
   *
   * @throws {@link EmulatorStartError} naming the emulator that failed, with the tail of its
   *   output (an `AggregateError` of them if both failed). Whatever did start is stopped first.
   * @throws `RangeError` for an unknown `kinesis` emulator or a bad `shardLimit`.
   */
  static async start(options: LocalStackOptions = {}): Promise<LocalStack> {
    const kinesisKind = options.kinesis ?? 'kinesalite';
    if (!KINESIS_EMULATORS.includes(kinesisKind)) {
      throw new RangeError(`unknown Kinesis emulator ${JSON.stringify(kinesisKind)} (use ${KINESIS_EMULATORS.join(' or ')})`);
    }
    const shardLimit = options.shardLimit ?? DEFAULT_SHARD_LIMIT;
    if (!Number.isInteger(shardLimit) || shardLimit < 1) {
      throw new RangeError(`shardLimit must be a positive integer, got ${shardLimit}`);
    }
    const region = options.region ?? DEFAULT_REGION;
    const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const processOptions = {
      shardLimit,
      region,
      startTimeoutMs,
      ...(options.kinesisLogLevel === undefined ? {} : { logLevel: options.kinesisLogLevel }),
    };

    const results = await Promise.allSettled([
      EmulatorProcess.start(kinesisKind, processOptions),
      EmulatorProcess.start('dynalite', processOptions),
    ]);
    const [kinesisResult, dynamodbResult] = results;
    if (kinesisResult?.status !== 'fulfilled' || dynamodbResult?.status !== 'fulfilled') {
      const failures: unknown[] = [];
      for (const result of results) {
        if (result.status === 'fulfilled') await result.value.stop();
        else failures.push(result.reason);
      }
      if (failures.length === 1) throw failures[0];
      throw new AggregateError(failures, `emulators failed to start: ${failures.map(message).join('; ')}`);
    }

    const stack = new LocalStack(region, kinesisResult.value, dynamodbResult.value);
    if (kinesisKind === 'kinesis-local') {
      try {
        await waitUntilServing(stack.endpoints, startTimeoutMs);
      } catch (err) {
        const output = kinesisResult.value.output();
        await stack.stop();
        throw new EmulatorStartError('kinesis-local', `not answering ListStreams: ${message(err)}`, output, {
          cause: err,
        });
      }
    }
    return stack;
  }

  /** The endpoints and region as plain strings, e.g. to hand to another process. */
  get endpoints(): EmulatorEndpoints {
    return { kinesisEndpoint: this.kinesisEndpoint, dynamodbEndpoint: this.dynamodbEndpoint, region: this.region };
  }

  /** The endpoints as environment variables for a child process (see `endpointsFromEnv`). */
  env(): Record<string, string> {
    return endpointsToEnv(this.endpoints);
  }

  /** OS process ids of the emulator hosts. */
  get pids(): { readonly kinesis: number; readonly dynamodb: number } {
    return { kinesis: this.#kinesisProcess.pid, dynamodb: this.#dynamodbProcess.pid };
  }

  /** True while both emulators are running. */
  get running(): boolean {
    return this.#kinesisProcess.running && this.#dynamodbProcess.running;
  }

  /** The last lines an emulator wrote (for diagnosing a crash mid-test). */
  emulatorOutput(service: EmulatorService): string {
    return (service === 'kinesis' ? this.#kinesisProcess : this.#dynamodbProcess).output();
  }

  /**
   * A fresh client configuration for `service` (endpoint, region, dummy credentials and a new
   * HTTP/1.1 handler), for callers that build their own clients.
   */
  clientConfig(service: EmulatorService): EmulatorClientConfig {
    return emulatorClientConfig(service, this.endpoints);
  }

  /**
   * Creates a stream with `shardCount` shards and waits until it is `ACTIVE`.
   *
   * @returns the stream ARN.
   */
  createStream(streamName: string, shardCount: number, options?: WaitOptions): Promise<string> {
    return createStreamAndWait(this.kinesis, streamName, shardCount, options);
  }

  /** Waits until a stream is `ACTIVE` again, e.g. after UpdateShardCount or SplitShard. */
  waitForStreamActive(streamName: string, options?: WaitOptions): Promise<StreamDescriptionSummary> {
    return waitForStreamActive(this.kinesis, streamName, options);
  }

  /** Deletes a stream (and its consumers) and waits until it is gone; a missing stream is fine. */
  deleteStream(streamName: string, options?: WaitOptions): Promise<void> {
    return deleteStreamAndWait(this.kinesis, streamName, options);
  }

  /**
   * Destroys the clients and stops both emulators, resolving once their processes have exited.
   * Idempotent: later calls return the same promise.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.kinesis.destroy();
      this.dynamodb.destroy();
      await Promise.all([this.#kinesisProcess.stop(), this.#dynamodbProcess.stop()]);
    })();
    return this.#stopping;
  }

  /** Same as {@link stop}; lets you write `await using stack = await LocalStack.start()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
