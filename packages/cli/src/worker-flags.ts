import { Option, type Command } from 'commander';
import { commaList, httpUrl, natsUrl, nonEmpty, port, positiveInteger } from './option-parsers.js';

/**
 * The flags of every command that runs a worker node (`shoal worker`, `shoal replicate`): the
 * application and its lease table, timings from a config file, the AWS endpoints, NATS, Redis,
 * metrics and logging, each with its `SHOAL_*` variable (a flag wins over a variable).
 */
export function addWorkerNodeFlags(command: Command): Command {
  const flag = envFlag(command);
  flag(
    '--config <file>',
    'JSON file of worker options (WorkerOptions fields, plus processor, replicateTo, kpl, region, kinesisEndpoint, dynamodbEndpoint)',
    'SHOAL_CONFIG',
  );
  flag('--application <name>', 'application name: leases and checkpoints are kept per application', 'SHOAL_APPLICATION', nonEmpty);
  flag('--lease-table <name>', 'DynamoDB lease table (default shoal-leases)', 'SHOAL_LEASE_TABLE', nonEmpty);
  flag('--worker-id <id>', 'this worker’s id (default host-pid-random)', 'SHOAL_WORKER_ID', nonEmpty);
  flag(
    '--initial-position <position>',
    'TRIM_HORIZON or LATEST, where a shard without a checkpoint starts',
    'SHOAL_INITIAL_POSITION',
    nonEmpty,
  );
  flag('--max-leases-per-worker <n>', 'cap on the leases this worker holds', 'SHOAL_MAX_LEASES_PER_WORKER', positiveInteger);
  flag(
    '--fan-out-consumer <name>',
    'read by enhanced fan-out through this stream consumer (registered when missing; every worker of the application gives the same name)',
    'SHOAL_FAN_OUT_CONSUMER',
    nonEmpty,
  );
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
  command.addOption(new Option('--nats-tls', 'TLS to NATS with the system’s CAs').env('SHOAL_NATS_TLS'));
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
  command.addOption(
    new Option(
      '--autoscale',
      'the fleet’s leader scales the stream to its traffic (needs --redis and --nats; rules from `autoscale` in --config)',
    ).env('SHOAL_AUTOSCALE'),
  );
  command.addOption(
    new Option(
      '--autoscale-strategy <strategy>',
      'with --autoscale: uniform (UpdateShardCount) or hot-shards (split hot shards at their traffic median)',
    )
      .choices(['uniform', 'hot-shards'])
      .env('SHOAL_AUTOSCALE_STRATEGY'),
  );
  command.addOption(
    new Option('--autoscale-dry-run', 'with --autoscale: plan, log and record, change nothing').env('SHOAL_AUTOSCALE_DRY_RUN'),
  );
  command.addOption(
    new Option('--log-level <level>', 'log level of the JSON lines on stdout')
      .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
      .default('info')
      .env('SHOAL_LOG_LEVEL'),
  );
  return command;
}

/** `--kpl`: how the replicator writes the source's KPL aggregates. */
export function addKplFlag(command: Command): Command {
  return command.addOption(
    new Option(
      '--kpl <mode>',
      'KPL aggregated records: forward each aggregate as it was read (one record, the same bytes and keys), or deaggregate it into its user records (default forward)',
    )
      .choices(['forward', 'deaggregate'])
      .env('SHOAL_KPL'),
  );
}

/** A helper that adds a flag with its `SHOAL_*` variable and an optional parser to `command`. */
export function envFlag(command: Command) {
  return (flags: string, description: string, env: string, parse?: (value: string) => unknown): void => {
    const option = new Option(flags, description).env(env);
    command.addOption(parse ? option.argParser(parse) : option);
  };
}
