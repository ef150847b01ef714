/**
 * Fleets of workers inside the benchmark's own process, each with its own NATS connection on the
 * shared coordination bus and its own metered DynamoDB client: for benchmarks that count what a
 * fleet asks of DynamoDB (`ddb-cost`, `fleet-cost`) rather than time records end to end.
 */
import { NatsCoordinationBus, connectNats, type NatsLink } from '@shoal/coordinator';
import { uniqueName, type LocalStack } from '@shoal/local-stack';
import type { ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import { Worker, type WorkerOptions } from '@shoal/runtime';
import type { Logger } from 'pino';
import { DynamoDbMeter, meteredClient } from './dynamodb-meter.js';
import { LeaseTableView, NATS_URL, type FleetTarget } from './fleet-processes.js';

export interface InProcessWorker {
  readonly workerId: string;
  readonly worker: Worker;
  readonly meter: DynamoDbMeter;
  /** Shuts the worker down and closes its connections. */
  stop(): Promise<void>;
}

/** A processor that only checkpoints: the cost benchmarks produce no records. */
const checkpointingProcessor: ShardRecordProcessorFactory = () => ({
  async processRecords({ checkpointer }) {
    await checkpointer.checkpoint();
  },
  async shardEnded({ checkpointer }) {
    await checkpointer.checkpoint();
  },
  async shutdownRequested({ checkpointer }) {
    await checkpointer.checkpoint();
  },
});

/** Starts one worker on `target` with default timings unless `options` say otherwise. */
export async function startInProcessWorker(
  stack: LocalStack,
  target: FleetTarget,
  workerId: string,
  logger: Logger,
  options: Partial<WorkerOptions> = {},
): Promise<InProcessWorker> {
  const created = await createInProcessWorker(stack, target, workerId, logger, options);
  created.start();
  return created;
}

/** Creates one worker on `target` (connected, lease table checked) without starting it: `start()` does. */
export async function createInProcessWorker(
  stack: LocalStack,
  target: FleetTarget,
  workerId: string,
  logger: Logger,
  options: Partial<WorkerOptions> = {},
): Promise<InProcessWorker & { start(): void }> {
  const meter = new DynamoDbMeter();
  const client = meteredClient(stack, meter);
  const link: NatsLink = connectNats({ servers: NATS_URL.replace('nats://', ''), name: workerId, logger });
  if (!(await link.ready(5_000))) throw new Error(`${workerId} could not reach NATS at ${NATS_URL}`);
  const streamName = target.streamNames ? undefined : target.streamName;
  const bus = new NatsCoordinationBus({ link, application: target.applicationName, ...(streamName ? { streamName } : {}), logger });
  const worker = await Worker.create({
    applicationName: target.applicationName,
    ...(target.streamNames ? { streams: target.streamNames } : { streamName }),
    leaseTableName: target.leaseTableName,
    workerId,
    initialPosition: 'TRIM_HORIZON',
    kinesis: stack.clientConfig('kinesis'),
    dynamoDb: client,
    coordinationBus: bus,
    logger: logger.child({ workerId }),
    processorFactory: checkpointingProcessor,
    ...options,
  });
  let running: Promise<void> | undefined;
  return {
    workerId,
    worker,
    meter,
    start() {
      running ??= worker.run();
    },
    async stop() {
      await worker.shutdown();
      await running?.catch(() => undefined);
      await worker.close();
      await bus.close();
      await link.close();
      client.destroy();
    },
  };
}

/** A fresh stream of `shards` shards, application and lease table (created) for one measurement. */
export async function newFleetTarget(
  stack: LocalStack,
  name: string,
  shards: number,
): Promise<{ target: FleetTarget; view: LeaseTableView }> {
  const streamName = uniqueName(name);
  await stack.createStream(streamName, shards);
  const target: FleetTarget = { applicationName: uniqueName(name), streamName, leaseTableName: uniqueName(`bench-${name}-leases`) };
  const view = new LeaseTableView(stack, target);
  await view.ensureTable();
  return { target, view };
}

/**
 * `streams` fresh streams of `shardsPerStream` shards each (created ten at a time), consumed by
 * one application, with its lease table: kinesalite reads a stream's whole description on every
 * call, so many leases are spread over streams of a size it serves quickly.
 */
export async function newMultiStreamTarget(
  stack: LocalStack,
  name: string,
  streams: number,
  shardsPerStream: number,
): Promise<{ target: FleetTarget; view: LeaseTableView }> {
  const prefix = uniqueName(name);
  const streamNames = Array.from({ length: streams }, (_, index) => `${prefix}-${String(index).padStart(3, '0')}`);
  for (let next = 0; next < streamNames.length; next += 10) {
    await Promise.all(streamNames.slice(next, next + 10).map((streamName) => stack.createStream(streamName, shardsPerStream)));
  }
  const target: FleetTarget = {
    applicationName: uniqueName(name),
    streamName: streamNames[0]!,
    streamNames,
    leaseTableName: uniqueName(`bench-${name}-leases`),
  };
  const view = new LeaseTableView(stack, target);
  await view.ensureTable();
  return { target, view };
}

/** Stops every worker, in parallel; failures are ignored (the benchmark is ending). */
export async function stopAll(workers: readonly InProcessWorker[]): Promise<void> {
  await Promise.allSettled(workers.map((worker) => worker.stop()));
}
