import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import type { KplMode, WorkerNatsOptions, WorkerOptions } from '@shoal/runtime';
import { awsClientConfig } from './aws-client-config.js';

/** `shoal worker`'s settings as given by flags and `SHOAL_*` variables (commander merges the two). */
export interface WorkerFlags {
  readonly processor?: string;
  /** Copy every record to these streams instead of running a processor module. */
  readonly replicateTo?: readonly string[];
  /** With `replicateTo`: forward KPL aggregates as read, or de-aggregate them. */
  readonly kpl?: KplMode;
  readonly config?: string;
  readonly application?: string;
  readonly stream?: string;
  readonly streams?: readonly string[];
  readonly streamPattern?: string;
  readonly leaseTable?: string;
  readonly workerId?: string;
  readonly initialPosition?: string;
  readonly maxLeasesPerWorker?: number;
  /** Read by enhanced fan-out through this stream consumer. */
  readonly fanOutConsumer?: string;
  /** The fleet's leader scales the stream to its traffic. */
  readonly autoscale?: boolean;
  readonly autoscaleStrategy?: 'uniform' | 'hot-shards';
  readonly autoscaleDryRun?: boolean;
  readonly region?: string;
  readonly kinesisEndpoint?: string;
  readonly dynamodbEndpoint?: string;
  readonly nats?: readonly string[];
  readonly natsUser?: string;
  readonly natsPassword?: string;
  readonly natsToken?: string;
  readonly natsCredsFile?: string;
  readonly natsNkeySeedFile?: string;
  readonly natsCaFile?: string;
  readonly natsTls?: boolean;
  readonly redis?: string;
  readonly redisPassword?: string;
  readonly redisCaFile?: string;
  readonly metricsPort?: number;
  readonly metricsHost?: string;
  readonly targetLeasesPerWorker?: number;
}

/** Settings of the config file that are the command's own, not `WorkerOptions`. */
interface CommandFileSettings {
  readonly processor?: string;
  readonly replicateTo?: readonly string[];
  readonly kpl?: KplMode;
  readonly region?: string;
  readonly kinesisEndpoint?: string;
  readonly dynamodbEndpoint?: string;
}

/** How a command spells the flags that `workerOptionsFrom` names in its errors. */
export interface FlagNames {
  /** The streams to copy to. */
  readonly targets: string;
}

export const WORKER_FLAG_NAMES: FlagNames = { targets: '--replicate-to' };

/** A start-up problem `shoal worker` reports in one line and exits 1 on. */
export class WorkerStartError extends Error {
  override readonly name = 'WorkerStartError';
}

/**
 * The worker's options from the config file, then the flags and variables over them (a flag or
 * variable wins). What is left for `Worker.create` to check (unknown keys, bad values) it
 * reports with the field named, file keys included.
 */
export async function workerOptionsFrom(
  flags: WorkerFlags,
  names: FlagNames = WORKER_FLAG_NAMES,
): Promise<{ options: WorkerOptions; processor: ProcessorChoice }> {
  const file = flags.config === undefined ? {} : await readConfigFile(flags.config);
  const { processor, replicateTo, kpl, region, kinesisEndpoint, dynamodbEndpoint, ...fileOptions } = file as CommandFileSettings &
    Record<string, unknown>;
  const processorPath = flags.processor ?? processor;
  const targets = flags.replicateTo ?? replicateTo;
  const kplMode = flags.kpl ?? kpl;
  if (targets !== undefined) checkReplicationTargets(targets, flags, fileOptions, names);
  if (processorPath !== undefined && targets !== undefined) {
    throw new WorkerStartError(`give either a processor (--processor, or processor in the config file) or ${names.targets}, not both`);
  }
  if (processorPath === undefined && targets === undefined) {
    throw new WorkerStartError(
      `--processor is required: the ES module whose default export (or \`processorFactory\`) makes processors (or ${names.targets}, to copy the stream)`,
    );
  }
  if (kplMode !== undefined && targets === undefined) {
    throw new WorkerStartError(
      `--kpl applies to copying a stream only (${names.targets}); a processor module reads KPL records de-aggregated`,
    );
  }
  const settings = {
    region: flags.region ?? region,
    kinesisEndpoint: flags.kinesisEndpoint ?? kinesisEndpoint,
    dynamodbEndpoint: flags.dynamodbEndpoint ?? dynamodbEndpoint,
  };
  const options = {
    ...fileOptions,
    ...defined({
      applicationName: flags.application,
      streamName: flags.stream,
      streams: flags.streams,
      streamPattern: flags.streamPattern,
      leaseTableName: flags.leaseTable,
      workerId: flags.workerId,
      initialPosition: flags.initialPosition,
      maxLeasesPerWorker: flags.maxLeasesPerWorker,
    }),
    ...defined({
      kinesis: awsClientConfig(settings.kinesisEndpoint, settings.region, objectOrUndefined(fileOptions.kinesis)),
      dynamoDb: awsClientConfig(settings.dynamodbEndpoint, settings.region, objectOrUndefined(fileOptions.dynamoDb)),
    }),
    ...natsOption(flags, fileOptions.nats),
    ...(flags.metricsPort === undefined
      ? {}
      : {
          metrics: { port: flags.metricsPort, ...defined({ host: flags.metricsHost, targetLeasesPerWorker: flags.targetLeasesPerWorker }) },
        }),
    ...redisOption(flags, fileOptions.redis),
    ...(flags.fanOutConsumer === undefined
      ? {}
      : { fanOut: { ...objectOrUndefined(fileOptions.fanOut), consumerName: flags.fanOutConsumer } }),
    ...autoscaleOption(flags, fileOptions.autoscale),
  } as Record<string, unknown>;
  return {
    options: options as unknown as WorkerOptions,
    processor:
      targets === undefined
        ? { kind: 'module', path: processorPath! }
        : { kind: 'replicate', targets: [...targets], ...(kplMode === undefined ? {} : { kpl: kplMode }) },
  };
}

/**
 * Targets must be a list of distinct stream names, none of them a stream the worker reads: a
 * worker copying a stream into itself would copy its own copies for ever.
 */
function checkReplicationTargets(targets: unknown, flags: WorkerFlags, fileOptions: Record<string, unknown>, names: FlagNames): void {
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((target) => typeof target === 'string' && target.length > 0)) {
    throw new WorkerStartError(`replicateTo must be a list of stream names, got ${JSON.stringify(targets)}`);
  }
  const sources = [flags.stream ?? fileOptions.streamName, ...(flags.streams ?? (fileOptions.streams as unknown[] | undefined) ?? [])];
  const pattern = flags.streamPattern ?? fileOptions.streamPattern;
  const seen = new Set<string>();
  for (const target of targets as string[]) {
    if (seen.has(target)) throw new WorkerStartError(`${names.targets} names ${target} twice`);
    seen.add(target);
    if (sources.includes(target))
      throw new WorkerStartError(`${names.targets} ${target}: the worker reads that stream; it would copy its own copies`);
    if (typeof pattern === 'string' && new RegExp(`^(?:${pattern})$`, 'u').test(target)) {
      throw new WorkerStartError(
        `${names.targets} ${target}: the stream pattern ${pattern} matches it; the worker would copy its own copies`,
      );
    }
  }
}

/** What the worker runs: the user's processor module, or the replicator copying to `targets`. */
export type ProcessorChoice =
  | { readonly kind: 'module'; readonly path: string }
  | { readonly kind: 'replicate'; readonly targets: readonly string[]; readonly kpl?: KplMode };

/** The processor factory a module exports: its default export, or `processorFactory`. */
export async function loadProcessorFactory(path: string): Promise<ShardRecordProcessorFactory> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new WorkerStartError(`cannot load the processor module ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const factory = module.processorFactory ?? module.default;
  if (typeof factory !== 'function') {
    throw new WorkerStartError(
      `the processor module ${path} exports neither a default function nor \`processorFactory\` (a function from the shard to its processor)`,
    );
  }
  return factory as ShardRecordProcessorFactory;
}

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new WorkerStartError(`cannot read the config file ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new WorkerStartError(`the config file ${path} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new WorkerStartError(`the config file ${path} must hold one JSON object of worker options`);
  }
  return parsed as Record<string, unknown>;
}

function natsOption(flags: WorkerFlags, fromFile: unknown): { nats?: WorkerNatsOptions } {
  const auth = defined({
    user: flags.natsUser,
    pass: flags.natsPassword,
    token: flags.natsToken,
    credsFile: flags.natsCredsFile,
    nkeySeedFile: flags.natsNkeySeedFile,
    tls: flags.natsCaFile === undefined ? flags.natsTls : { caFile: flags.natsCaFile },
  });
  if (flags.nats === undefined && Object.keys(auth).length === 0)
    return fromFile === undefined ? {} : { nats: fromFile as WorkerNatsOptions };
  const base = typeof fromFile === 'object' && fromFile !== null ? (fromFile as WorkerNatsOptions) : undefined;
  return { nats: { ...base, ...(flags.nats === undefined ? {} : { servers: [...flags.nats] }), ...auth } as WorkerNatsOptions };
}

function redisOption(flags: WorkerFlags, fromFile: unknown): { redis?: WorkerOptions['redis'] } {
  const given = defined({
    url: flags.redis,
    password: flags.redisPassword,
    tls: flags.redisCaFile === undefined ? undefined : { caFile: flags.redisCaFile },
  });
  if (Object.keys(given).length === 0) return fromFile === undefined ? {} : { redis: fromFile as WorkerOptions['redis'] };
  const base = typeof fromFile === 'object' && fromFile !== null ? fromFile : {};
  return { redis: { ...base, ...given } as WorkerOptions['redis'] };
}

/** The entries whose value is not undefined. */
function defined<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** `--autoscale` (and its strategy and dry run) over the config file's `autoscale`. */
function autoscaleOption(flags: WorkerFlags, fromFile: unknown): { autoscale?: object } {
  const given = defined({ strategy: flags.autoscaleStrategy, dryRun: flags.autoscaleDryRun });
  if (!flags.autoscale && Object.keys(given).length === 0) return fromFile === undefined ? {} : { autoscale: fromFile as object };
  return { autoscale: { ...objectOrUndefined(fromFile), ...given } };
}

function objectOrUndefined(value: unknown): object | undefined {
  return typeof value === 'object' && value !== null ? value : undefined;
}
