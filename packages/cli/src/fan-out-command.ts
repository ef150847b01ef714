import { KinesisClient } from '@aws-sdk/client-kinesis';
import { deregisterStreamConsumer, listStreamConsumers, streamArnOf } from '@shoal/runtime';
import type { Command } from 'commander';
import { awsClientConfig } from './aws-client-config.js';
import { httpUrl, nonEmpty } from './option-parsers.js';
import type { CliIo } from './program.js';

interface StreamFlags {
  readonly stream: string;
  readonly region?: string;
  readonly kinesisEndpoint?: string;
  readonly json?: true;
}

/** A stream consumer as `shoal fan-out list` prints it. */
export interface StreamConsumerView {
  readonly name: string;
  readonly status: string;
  readonly arn: string;
  readonly createdAt: string | undefined;
}

function withStreamFlags(command: Command): Command {
  return command
    .requiredOption('--stream <name>', 'the stream', nonEmpty)
    .option('--region <region>', 'AWS region (default: from the environment)', nonEmpty)
    .option('--kinesis-endpoint <url>', 'Kinesis endpoint, e.g. an emulator', httpUrl);
}

async function withKinesis<T>(flags: StreamFlags, use: (kinesis: KinesisClient) => Promise<T>): Promise<T> {
  const kinesis = new KinesisClient(awsClientConfig(flags.kinesisEndpoint, flags.region) ?? {});
  try {
    return await use(kinesis);
  } finally {
    kinesis.destroy();
  }
}

/** The stream's registered consumers (enhanced fan-out). */
export async function streamConsumerViews(kinesis: KinesisClient, streamName: string): Promise<StreamConsumerView[]> {
  const consumers = await listStreamConsumers(kinesis, await streamArnOf(kinesis, streamName));
  return consumers.map((consumer) => ({
    name: consumer.ConsumerName ?? '',
    status: consumer.ConsumerStatus ?? '',
    arn: consumer.ConsumerARN ?? '',
    createdAt: consumer.ConsumerCreationTimestamp?.toISOString(),
  }));
}

function failure(io: CliIo, error: unknown): number {
  io.writeError(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  return 1;
}

/** Adds `shoal fan-out list` and `shoal fan-out deregister` to the program. */
export function addFanOutCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  const fanOut = program.command('fan-out').description('Operate on the stream consumers applications read through by enhanced fan-out.');
  withStreamFlags(fanOut.command('list').description("List the stream's registered consumers."))
    .option('--json', 'one JSON line')
    .action(async (flags: StreamFlags) => {
      try {
        const consumers = await withKinesis(flags, (kinesis) => streamConsumerViews(kinesis, flags.stream));
        if (flags.json) io.write(`${JSON.stringify({ stream: flags.stream, consumers })}\n`);
        else if (consumers.length === 0) io.write(`stream ${flags.stream} has no registered consumers\n`);
        else for (const consumer of consumers) io.write(`${consumer.name}\t${consumer.status}\t${consumer.createdAt ?? ''}\n`);
        setExitCode(0);
      } catch (error) {
        setExitCode(failure(io, error));
      }
    });
  withStreamFlags(
    fanOut
      .command('deregister')
      .description(
        'Deregister an application’s stream consumer, when the application is retired: its workers stop receiving records (they register it again if they still run).',
      ),
  )
    .requiredOption('--consumer <name>', 'the consumer name (the workers’ --fan-out-consumer)', nonEmpty)
    .action(async (flags: StreamFlags & { consumer: string }) => {
      try {
        const removed = await withKinesis(flags, (kinesis) => deregisterStreamConsumer(kinesis, flags.stream, flags.consumer));
        if (removed) {
          io.write(`deregistered consumer ${flags.consumer} from stream ${flags.stream}\n`);
          setExitCode(0);
        } else {
          io.writeError(`stream ${flags.stream} has no consumer named ${flags.consumer}\n`);
          setExitCode(1);
        }
      } catch (error) {
        setExitCode(failure(io, error));
      }
    });
}
