import { KinesisClient } from '@aws-sdk/client-kinesis';
import { InvalidOptionsError, Worker, replicatorProcessor } from '@shoal/runtime';
import { pino, type Level } from 'pino';
import { Option, type Command } from 'commander';
import type { CliIo } from './program.js';
import { commaList, httpUrl, natsUrl, nonEmpty, port, positiveInteger } from './option-parsers.js';
import { WorkerStartError, loadProcessorFactory, workerOptionsFrom, type WorkerFlags } from './worker-config.js';

export interface WorkerCommandOptions extends WorkerFlags {
  readonly logLevel: Level;
}

/** Adds `shoal worker` and its flags (each with its `SHOAL_*` variable) to `program`. */
export function addWorkerCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
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
    '--replicate-to <streams>',
    'instead of a processor: copy every record to these streams (comma-separated), keys and per-key order kept',
    'SHOAL_REPLICATE_TO',
    commaList,
  );
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
  flag('--metrics-port <port>', 'serve /metrics (Prometheus), /healthz and /readyz on this port', 'SHOAL_METRICS_PORT', port);
  flag('--metrics-host <host>', 'address of the metrics server (default 0.0.0.0)', 'SHOAL_METRICS_HOST', nonEmpty);
  flag(
    '--target-leases-per-worker <n>',
    'leases one worker should carry: the leader exports shoal_desired_workers for an autoscaler',
    'SHOAL_TARGET_LEASES_PER_WORKER',
    positiveInteger,
  );
  worker.addOption(
    new Option('--log-level <level>', 'log level of the JSON lines on stdout')
      .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
      .default('info')
      .env('SHOAL_LOG_LEVEL'),
  );
  worker.action(async (options: WorkerCommandOptions) => setExitCode(await runWorker(options, io)));
}

/**
 * `shoal worker`: runs one worker node until SIGTERM or SIGINT, then drains its leases (the
 * batch in hand finishes, the processor checkpoints, each lease goes to the worker the fleet
 * picks) and resolves 0. A start-up problem (bad option, unreadable config or processor module,
 * no lease table) is written to stderr in words and resolves 1; so does a worker that failed.
 * Logs go to stdout as JSON lines.
 */
export async function runWorker(options: WorkerCommandOptions, io: CliIo): Promise<number> {
  const logger = pino({ level: options.logLevel }, { write: (line: string) => io.write(line) });
  let worker: Worker;
  try {
    const { options: workerOptions, processor } = await workerOptionsFrom(options);
    const processorFactory =
      processor.kind === 'module'
        ? await loadProcessorFactory(processor.path)
        : replicatorProcessor({
            targets: processor.targets.map((streamName) => ({ streamName })),
            ...(workerOptions.kinesis === undefined || workerOptions.kinesis instanceof KinesisClient
              ? {}
              : { kinesis: workerOptions.kinesis }),
            logger,
          });
    worker = await Worker.create({ ...workerOptions, processorFactory, logger });
  } catch (error) {
    io.writeError(`shoal worker: ${startProblem(error)}\n`);
    return 1;
  }
  const stop = () => void worker.shutdown();
  if (io.signal.aborted) stop();
  else io.signal.addEventListener('abort', stop, { once: true });
  try {
    await worker.run();
    return 0;
  } catch (error) {
    io.writeError(`shoal worker: the worker failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    io.signal.removeEventListener('abort', stop);
    await worker.close();
  }
}

function startProblem(error: unknown): string {
  if (error instanceof InvalidOptionsError) return `invalid options:\n  - ${error.issues.join('\n  - ')}`;
  if (error instanceof WorkerStartError || error instanceof Error) return error.message;
  return String(error);
}
