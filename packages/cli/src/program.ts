import { Command, CommanderError, Option } from 'commander';
import type { Logger } from '@shoal/coordinator';
import { runDrain } from './drain-command.js';
import { runLocalStack } from './local-stack-command.js';
import { runStatus } from './status-command.js';
import { runWatch } from './watch-command.js';
import { addWorkerCommand } from './worker-command.js';
import { addReplicateCommand } from './replicate-command.js';
import { addCheckpointCommand } from './checkpoint-command.js';
import { addDashboardCommand } from './dashboard/dashboard-command.js';
import { addFanOutCommand } from './fan-out-command.js';
import { addCapacityCommand } from './capacity-command.js';
import { addAutoscaleCommand } from './autoscale-command.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_NATS_URL,
  leaseTableOptions,
  natsUrl,
  nonEmpty,
  nonNegativeInteger,
  positiveInteger,
} from './option-parsers.js';

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
    .option('--stream <name>', 'only the leases of this stream', nonEmpty)
    .option('--all', 'also leases nobody has held for more than 5 minutes (ended, or given up)')
    .option('--connect-timeout-ms <ms>', 'give up when NATS does not answer within this time', positiveInteger, DEFAULT_CONNECT_TIMEOUT_MS)
    .action(
      async (options: {
        application: string;
        nats: string;
        once?: true;
        json?: true;
        stream?: string;
        all?: true;
        connectTimeoutMs: number;
      }) => {
        exitCode = await runWatch({ ...options, once: options.once === true, json: options.json === true, all: options.all === true }, io);
      },
    );

  addWorkerCommand(program, io, (code) => (exitCode = code));
  addReplicateCommand(program, io, (code) => (exitCode = code));

  leaseTableOptions(
    program
      .command('status')
      .description(
        "Show the application's shards (owner, machine state, lease counter, checkpoint and its age) and workers (leases, liveness), from the lease table and NATS.",
      )
      .requiredOption('--application <name>', 'application to show', nonEmpty)
      .option('--stream <name>', 'its stream (one of them, for an application of several streams)', nonEmpty),
  )
    .option('--nats <url>', 'NATS server for the machine states', natsUrl, DEFAULT_NATS_URL)
    .option('--json', 'print one JSON object')
    .option(
      '--connect-timeout-ms <ms>',
      'how long to wait for NATS before showing the table alone',
      positiveInteger,
      DEFAULT_CONNECT_TIMEOUT_MS,
    )
    .action(
      async (options: {
        application: string;
        stream?: string;
        leaseTable: string;
        region?: string;
        dynamodbEndpoint?: string;
        nats: string;
        json?: true;
        connectTimeoutMs: number;
      }) => {
        exitCode = await runStatus({ ...options, json: options.json === true }, io);
      },
    );

  leaseTableOptions(
    program
      .command('drain')
      .description(
        'Move every lease off a worker gracefully, for maintenance: its record is marked leaving, and the fleet hands its leases to the other workers. The worker keeps running, holding nothing, until restarted.',
      )
      .requiredOption('--application <name>', 'the application', nonEmpty)
      .requiredOption('--worker <id>', 'the worker to drain', nonEmpty)
      .option('--stream <name>', 'the stream of a single-stream application', nonEmpty),
  )
    .option('--wait-ms <ms>', 'wait until the worker holds no lease, at most this long (0: do not wait)', nonNegativeInteger, 60_000)
    .option('--nats <url>', "the fleet's NATS server, to tell the fleet and the worker at once", natsUrl, DEFAULT_NATS_URL)
    .option(
      '--connect-timeout-ms <ms>',
      'how long to wait for NATS before leaving the fleet to find out',
      positiveInteger,
      DEFAULT_CONNECT_TIMEOUT_MS,
    )
    .action(
      async (options: {
        application: string;
        worker: string;
        stream?: string;
        leaseTable: string;
        region?: string;
        dynamodbEndpoint?: string;
        waitMs: number;
        nats: string;
        connectTimeoutMs: number;
      }) => {
        exitCode = await runDrain(options, io);
      },
    );

  addCheckpointCommand(program, io, (code) => (exitCode = code));
  addDashboardCommand(program, io, (code) => (exitCode = code));
  addFanOutCommand(program, io, (code) => (exitCode = code));
  addCapacityCommand(program, io, (code) => (exitCode = code));
  addAutoscaleCommand(program, io, (code) => (exitCode = code));
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
