import { setTimeout as sleep } from 'node:timers/promises';
import { LocalStack, produceRecords, type KinesisEmulatorKind } from '@shoal/local-stack';
import type { CliIo } from './program.js';

export interface LocalStackCommandOptions {
  readonly stream: string;
  readonly shards: number;
  readonly kinesis: KinesisEmulatorKind;
  /** Sample records a second to write to the stream until stopped; none when undefined. */
  readonly produce?: number;
  readonly json: boolean;
}

/**
 * `shoal local-stack`: the emulators on free loopback ports with one stream created, for trying
 * `shoal worker` in another terminal. Prints the endpoints (one JSON line with `--json`), writes
 * sample records if asked, and on SIGINT or SIGTERM stops everything it started and resolves 0.
 */
export async function runLocalStack(options: LocalStackCommandOptions, io: CliIo): Promise<number> {
  let stack: LocalStack | undefined;
  try {
    stack = await LocalStack.start({ kinesis: options.kinesis, shardLimit: Math.max(100, options.shards * 4) });
    await stack.createStream(options.stream, options.shards);
  } catch (error) {
    await stack?.stop();
    io.writeError(`shoal local-stack: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  try {
    const { kinesisEndpoint, dynamodbEndpoint, region } = stack.endpoints;
    const ready = {
      stream: options.stream,
      shards: options.shards,
      kinesisEmulator: options.kinesis,
      kinesisEndpoint,
      dynamodbEndpoint,
      region,
    };
    io.write(options.json ? `${JSON.stringify(ready)}\n` : describe(ready, options.produce));
    const producing = options.produce === undefined ? undefined : produceUntil(stack, options.stream, options.produce, io.signal);
    await untilAborted(io.signal);
    await producing;
    return 0;
  } finally {
    await stack.stop();
    if (!options.json) io.write('emulators stopped\n');
  }
}

/** Writes `perSecond` records a second, in one PutRecords batch per second, until `signal`. */
async function produceUntil(stack: LocalStack, streamName: string, perSecond: number, signal: AbortSignal): Promise<void> {
  for (let second = 0; !signal.aborted; second += 1) {
    const started = Date.now();
    try {
      await produceRecords({
        kinesis: stack.kinesis,
        streamName,
        count: perSecond,
        batchSize: Math.min(500, perSecond),
        idPrefix: `s${second}-`,
        signal,
      });
    } catch {
      if (signal.aborted) return;
    }
    await sleep(Math.max(0, 1_000 - (Date.now() - started)), undefined, { signal }).catch(() => undefined);
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function describe(
  ready: { stream: string; shards: number; kinesisEmulator: string; kinesisEndpoint: string; dynamodbEndpoint: string },
  produce: number | undefined,
): string {
  return [
    `${ready.kinesisEmulator} and dynalite are running; stream ${ready.stream} has ${ready.shards} shards.`,
    `  Kinesis:  ${ready.kinesisEndpoint}`,
    `  DynamoDB: ${ready.dynamodbEndpoint}`,
    produce === undefined ? '' : `Writing ${produce} sample records a second to ${ready.stream}.`,
    'In another terminal:',
    `  shoal worker --processor ./processor.js --application try-shoal --stream ${ready.stream} \\`,
    `    --kinesis-endpoint ${ready.kinesisEndpoint} --dynamodb-endpoint ${ready.dynamodbEndpoint}`,
    'Ctrl-C stops the emulators.',
    '',
  ]
    .filter((line, index, lines) => line !== '' || index === lines.length - 1)
    .join('\n');
}
