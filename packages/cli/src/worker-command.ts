import { InvalidOptionsError, Worker } from '@shoal/runtime';
import { pino, type Level } from 'pino';
import type { CliIo } from './program.js';
import { WorkerStartError, loadProcessorFactory, workerOptionsFrom, type WorkerFlags } from './worker-config.js';

export interface WorkerCommandOptions extends WorkerFlags {
  readonly logLevel: Level;
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
    const { options: workerOptions, processorPath } = await workerOptionsFrom(options);
    const processorFactory = await loadProcessorFactory(processorPath);
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
