import { Option, type Command } from 'commander';
import type { CliIo } from './program.js';
import { commaList, nonEmpty } from './option-parsers.js';
import { runWorker, type WorkerCommandOptions } from './worker-command.js';
import type { FlagNames } from './worker-config.js';
import { addKplFlag, addWorkerNodeFlags } from './worker-flags.js';

interface ReplicateCommandOptions extends Omit<WorkerCommandOptions, 'stream' | 'replicateTo'> {
  readonly from: string;
  readonly to: readonly string[];
}

const REPLICATE_FLAG_NAMES: FlagNames = { targets: '--to' };

/**
 * Adds `shoal replicate --from <stream> --to <a,b,…>`: a worker node whose processor is the
 * replicator, the same as `shoal worker --stream <from> --replicate-to <a,b,…>`, with every other
 * flag of `shoal worker` but the processor and the streams to read.
 */
export function addReplicateCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  const replicate = program
    .command('replicate')
    .description(
      'Copy every record of one stream to others, with its partition key and explicit hash key, in per-key order: a worker node of the application given, run until SIGTERM or SIGINT like `shoal worker`, whose fleet shares the source’s shards. Every option may also come from its SHOAL_* variable or from --config.',
    );
  replicate.addOption(new Option('--from <stream>', 'the stream to copy').env('SHOAL_STREAM').argParser(nonEmpty).makeOptionMandatory());
  replicate.addOption(
    new Option('--to <streams>', 'the streams to copy it to, comma-separated')
      .env('SHOAL_REPLICATE_TO')
      .argParser(commaList)
      .makeOptionMandatory(),
  );
  addKplFlag(replicate);
  addWorkerNodeFlags(replicate);
  replicate.action(async ({ from, to, ...rest }: ReplicateCommandOptions) =>
    setExitCode(await runWorker({ ...rest, stream: from, replicateTo: to }, io, { name: 'shoal replicate', flags: REPLICATE_FLAG_NAMES })),
  );
}
