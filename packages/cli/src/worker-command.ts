import { KinesisClient } from '@aws-sdk/client-kinesis';
import { InvalidOptionsError, Worker, replicatorProcessor } from '@shoal/runtime';
import { pino, type Level } from 'pino';
import type { Command } from 'commander';
import type { CliIo } from './program.js';
import { commaList, nonEmpty } from './option-parsers.js';
import {
  WORKER_FLAG_NAMES,
  WorkerStartError,
  loadProcessorFactory,
  workerOptionsFrom,
  type FlagNames,
  type WorkerFlags,
} from './worker-config.js';
import { addKplFlag, addWorkerNodeFlags, envFlag } from './worker-flags.js';

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
  const flag = envFlag(worker);
  flag('--processor <module>', 'ES module whose default export (or `processorFactory`) makes processors', 'SHOAL_PROCESSOR');
  flag(
    '--replicate-to <streams>',
    'instead of a processor: copy every record to these streams (comma-separated), keys and per-key order kept',
    'SHOAL_REPLICATE_TO',
    commaList,
  );
  addKplFlag(worker);
  flag('--stream <name>', 'the stream to consume', 'SHOAL_STREAM', nonEmpty);
  flag('--streams <names>', 'several streams, comma-separated', 'SHOAL_STREAMS', commaList);
  flag('--stream-pattern <regex>', 'every stream whose whole name matches', 'SHOAL_STREAM_PATTERN', nonEmpty);
  addWorkerNodeFlags(worker);
  worker.action(async (options: WorkerCommandOptions) => setExitCode(await runWorker(options, io)));
}

/**
 * `shoal worker` (and `shoal replicate`, which `command` then names): runs one worker node until
 * SIGTERM or SIGINT, then drains its leases (the batch in hand finishes, the processor
 * checkpoints, each lease goes to the worker the fleet picks) and resolves 0. A start-up problem
 * (bad option, unreadable config or processor module, no lease table) is written to stderr in
 * words and resolves 1; so does a worker that failed. Logs go to stdout as JSON lines.
 */
export async function runWorker(
  options: WorkerCommandOptions,
  io: CliIo,
  command: { readonly name: string; readonly flags: FlagNames } = { name: 'shoal worker', flags: WORKER_FLAG_NAMES },
): Promise<number> {
  const logger = pino({ level: options.logLevel }, { write: (line: string) => io.write(line) });
  let worker: Worker;
  try {
    const { options: workerOptions, processor } = await workerOptionsFrom(options, command.flags);
    const processorFactory =
      processor.kind === 'module'
        ? await loadProcessorFactory(processor.path)
        : replicatorProcessor({
            targets: processor.targets.map((streamName) => ({ streamName })),
            ...(workerOptions.kinesis === undefined || workerOptions.kinesis instanceof KinesisClient
              ? {}
              : { kinesis: workerOptions.kinesis }),
            ...(processor.kpl === undefined ? {} : { kpl: processor.kpl }),
            logger,
          });
    worker = await Worker.create({ ...workerOptions, processorFactory, logger });
  } catch (error) {
    io.writeError(`${command.name}: ${startProblem(error)}\n`);
    return 1;
  }
  const stop = () => void worker.shutdown();
  if (io.signal.aborted) stop();
  else io.signal.addEventListener('abort', stop, { once: true });
  try {
    await worker.run();
    return 0;
  } catch (error) {
    io.writeError(`${command.name}: the worker failed: ${error instanceof Error ? error.message : String(error)}\n`);
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
