import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Logger } from '@shoal/coordinator';
import { runLocalStack } from './local-stack-command.js';
import { runWatch } from './watch-command.js';
import { runWorker, type WorkerCommandOptions } from './worker-command.js';

export interface CliIo {
  /** Standard output: tables, JSON lines, help. */
  readonly write: (text: string) => void;
  /** Standard error: usage errors. */
  readonly writeError: (text: string) => void;
  readonly logger: Logger;
  /** Aborted on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** Standard output is a terminal. */
  readonly interactive: boolean;
}

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Runs the `shoal` command line on `argv` (without the node and script paths) and resolves with
 * the exit code. Usage errors name the option and resolve 1; nothing here calls `process.exit`.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(['watch', '--application', 'orders', '--once'], io);
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = new Command('shoal')
    .description('Operate a Shoal fleet.')
    .exitOverride()
    .configureOutput({ writeOut: io.write, writeErr: io.writeError });

  program
    .command('watch')
    .description("Show the application's leases live from NATS: state, owner, lease counter, checkpoint.")
    .requiredOption('--application <name>', 'application whose leases to show', nonEmpty)
    .option('--nats <url>', 'NATS server', natsUrl, DEFAULT_NATS_URL)
    .option('--once', 'print the current table once and exit')
    .option('--json', 'print one JSON line per update instead of the table')
    .option('--connect-timeout-ms <ms>', 'give up when NATS does not answer within this time', positiveInteger, DEFAULT_CONNECT_TIMEOUT_MS)
    .action(async (options: { application: string; nats: string; once?: true; json?: true; connectTimeoutMs: number }) => {
      exitCode = await runWatch({ ...options, once: options.once === true, json: options.json === true }, io);
    });

  const worker = program
    .command('worker')
    .description(
      'Run a worker node until SIGTERM or SIGINT, then drain and hand off its leases. Every option may also come from its SHOAL_* variable or from --config (a JSON object of worker options); a flag wins over a variable, a variable over the file.',
    );
  const flag = (flags: string, description: string, env: string, parse?: (value: string) => unknown) => {
    const option = new Option(flags, description).env(env);
    worker.addOption(parse ? option.argParser(parse) : option);
  };
  flag('--processor <module>', 'ES module whose default export (or `processorFactory`) makes processors', 'SHOAL_PROCESSOR');
  flag(
    '--config <file>',
    'JSON file of worker options (WorkerOptions fields, plus processor, region, kinesisEndpoint, dynamodbEndpoint)',
    'SHOAL_CONFIG',
  );
  flag('--application <name>', 'application name: leases and checkpoints are kept per application', 'SHOAL_APPLICATION', nonEmpty);
  flag('--stream <name>', 'the stream to consume', 'SHOAL_STREAM', nonEmpty);
  flag('--streams <names>', 'several streams, comma-separated', 'SHOAL_STREAMS', commaList);
  flag('--stream-pattern <regex>', 'every stream whose whole name matches', 'SHOAL_STREAM_PATTERN', nonEmpty);
  flag('--lease-table <name>', 'DynamoDB lease table (default shoal-leases)', 'SHOAL_LEASE_TABLE', nonEmpty);
  flag('--worker-id <id>', 'this worker’s id (default host-pid-random)', 'SHOAL_WORKER_ID', nonEmpty);
  flag(
    '--initial-position <position>',
    'TRIM_HORIZON or LATEST, where a shard without a checkpoint starts',
    'SHOAL_INITIAL_POSITION',
    nonEmpty,
  );
  flag('--max-leases-per-worker <n>', 'cap on the leases this worker holds', 'SHOAL_MAX_LEASES_PER_WORKER', positiveInteger);
  flag('--region <region>', 'AWS region of Kinesis and DynamoDB (default: from the environment)', 'SHOAL_REGION', nonEmpty);
  flag('--kinesis-endpoint <url>', 'Kinesis endpoint, e.g. an emulator at http://127.0.0.1:4567', 'SHOAL_KINESIS_ENDPOINT', httpUrl);
  flag('--dynamodb-endpoint <url>', 'DynamoDB endpoint, e.g. an emulator at http://127.0.0.1:4568', 'SHOAL_DYNAMODB_ENDPOINT', httpUrl);
  flag('--nats <urls>', 'NATS servers, comma-separated: the worker coordinates through them', 'SHOAL_NATS_URL', (value) =>
    commaList(value).map(natsUrl),
  );
  flag('--nats-user <user>', 'NATS user (with --nats-password)', 'SHOAL_NATS_USER');
  flag('--nats-password <password>', 'NATS password', 'SHOAL_NATS_PASSWORD');
  flag('--nats-token <token>', 'NATS token', 'SHOAL_NATS_TOKEN');
  flag('--nats-creds-file <file>', 'NATS creds file (JWT and nkey seed)', 'SHOAL_NATS_CREDS_FILE');
  flag('--nats-nkey-seed-file <file>', 'NATS nkey seed file', 'SHOAL_NATS_NKEY_SEED_FILE');
  flag('--nats-ca-file <file>', 'CA certificate for TLS to NATS (PEM)', 'SHOAL_NATS_CA_FILE');
  worker.addOption(new Option('--nats-tls', 'TLS to NATS with the system’s CAs').env('SHOAL_NATS_TLS'));
  flag('--redis <url>', 'Redis URL (redis:// or rediss://): shared read budget and load reports', 'SHOAL_REDIS_URL');
  flag('--redis-password <password>', 'Redis password', 'SHOAL_REDIS_PASSWORD');
  flag('--redis-ca-file <file>', 'CA certificate for TLS to Redis (PEM)', 'SHOAL_REDIS_CA_FILE');
  worker.addOption(
    new Option('--log-level <level>', 'log level of the JSON lines on stdout')
      .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
      .default('info')
      .env('SHOAL_LOG_LEVEL'),
  );
  worker.action(async (options: WorkerCommandOptions) => {
    exitCode = await runWorker(options, io);
  });

  program
    .command('local-stack')
    .description(
      'Start the Kinesis and DynamoDB emulators on free loopback ports with one stream, print the endpoints, and stop them on Ctrl-C.',
    )
    .option('--stream <name>', 'stream to create', nonEmpty, 'try-shoal')
    .option('--shards <n>', 'its shard count', positiveInteger, 4)
    .addOption(new Option('--kinesis <emulator>', 'Kinesis emulator').choices(['kinesalite', 'kinesis-local']).default('kinesalite'))
    .option('--produce <records-per-second>', 'write this many sample records a second to the stream until stopped', positiveInteger)
    .option('--json', 'print the endpoints as one JSON line')
    .action(async (options: { stream: string; shards: number; kinesis: 'kinesalite' | 'kinesis-local'; produce?: number; json?: true }) => {
      exitCode = await runLocalStack({ ...options, json: options.json === true }, io);
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    // Help, version and usage errors, already written by commander.
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
  return exitCode;
}

function nonEmpty(value: string): string {
  if (value.trim().length === 0) throw new InvalidArgumentError('must not be empty.');
  return value;
}

function commaList(value: string): string[] {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  if (items.length === 0) throw new InvalidArgumentError('must name at least one item (comma-separated).');
  return items;
}

function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be an http:// or https:// URL.');
  }
  if (!['http:', 'https:'].includes(url.protocol)) throw new InvalidArgumentError('must be an http:// or https:// URL.');
  return value;
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('must be a positive integer.');
  return parsed;
}

/** `nats://host:port`, `tls://host:port` or `host:port`, as the NATS client accepts them. */
function natsUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value.includes('://') ? value : `nats://${value}`);
  } catch {
    throw new InvalidArgumentError('must be nats://host:port or host:port.');
  }
  if (!['nats:', 'tls:'].includes(url.protocol) || url.hostname === '') {
    throw new InvalidArgumentError('must be nats://host:port or host:port.');
  }
  return value;
}
