import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetShardIteratorCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDbLeaseStore, leaseNamespace, type FleetEvent, type Lease } from '@shoal/coordinator';
import { formatCheckpoint } from '@shoal/processor-sdk';
import type { Command } from 'commander';
import { awsClientConfig } from './aws-client-config.js';
import { promptFleet } from './fleet-prompts.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_NATS_URL,
  checkpointPosition,
  httpUrl,
  leaseTableOptions,
  natsUrl,
  nonEmpty,
  positiveInteger,
  type CheckpointPosition,
} from './option-parsers.js';
import type { CliIo } from './program.js';

export interface CheckpointSetOptions {
  readonly application: string;
  readonly stream: string;
  /** The shards to move; empty with `allShards`. */
  readonly shards: readonly string[];
  /** Every shard of the stream that is not finished. */
  readonly allShards: boolean;
  readonly to: CheckpointPosition;
  readonly leaseTable: string;
  readonly region?: string;
  readonly dynamodbEndpoint?: string;
  readonly kinesisEndpoint?: string;
  /** Check a sequence number against its shard with GetShardIterator first. */
  readonly verify: boolean;
  readonly nats: string;
  readonly connectTimeoutMs: number;
  readonly json: boolean;
}

/** One shard's checkpoint as `shoal checkpoint set` moved it. */
export interface CheckpointMove {
  readonly shardId: string;
  readonly from: string;
  readonly to: string;
  /** The worker the lease was taken from; it stops at its next read of the lease. */
  readonly previousOwner: string | undefined;
  readonly leaseCounter: number;
}

/** Ownership changes between the read and the write a reset tolerates before giving up on a shard. */
const MAX_ATTEMPTS = 5;

export class CheckpointSetError extends Error {
  override readonly name = 'CheckpointSetError';
}

/** Adds `shoal checkpoint set` to the program. */
export function addCheckpointCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  leaseTableOptions(
    program
      .command('checkpoint')
      .description("Operate on an application's checkpoints.")
      .command('set')
      .description(
        "Move an application's checkpoint on shards of a stream. Each lease is taken from its owner in the same conditional write, so a running owner is fenced out (it can no longer checkpoint) and is told over NATS; the fleet then takes the lease again and reads from the new position.",
      )
      .requiredOption('--application <name>', 'the application', nonEmpty)
      .requiredOption('--stream <name>', 'the stream', nonEmpty)
      .option('--shard <id>', 'a shard to move (repeat for several)', (value: string, previous: string[] = []) => [
        ...previous,
        nonEmpty(value),
      ])
      .option('--all-shards', 'every shard of the stream that is not finished')
      .requiredOption(
        '--to <position>',
        'TRIM_HORIZON, LATEST, a sequence number (processing resumes after that record), or an ISO-8601 timestamp',
        checkpointPosition,
      ),
  )
    .option('--kinesis-endpoint <url>', 'Kinesis endpoint, to check a sequence number against its shard', httpUrl)
    .option('--no-verify', 'do not check a sequence number against its shard with GetShardIterator')
    .option('--nats <url>', 'NATS server, to tell the owners at once', natsUrl, DEFAULT_NATS_URL)
    .option(
      '--connect-timeout-ms <ms>',
      'how long to wait for NATS before leaving the owners to find out',
      positiveInteger,
      DEFAULT_CONNECT_TIMEOUT_MS,
    )
    .option('--json', 'print one JSON object')
    .action(
      async (options: {
        application: string;
        stream: string;
        shard?: string[];
        allShards?: true;
        to: CheckpointPosition;
        leaseTable: string;
        region?: string;
        dynamodbEndpoint?: string;
        kinesisEndpoint?: string;
        verify: boolean;
        nats: string;
        connectTimeoutMs: number;
        json?: true;
      }) => {
        setExitCode(
          await runCheckpointSet(
            { ...options, shards: options.shard ?? [], allShards: options.allShards === true, json: options.json === true },
            io,
          ),
        );
      },
    );
}

/**
 * `shoal checkpoint set`: moves the checkpoint of the named shards (or of every unfinished one)
 * with {@link DynamoDbLeaseStore.resetCheckpoint}, then tells each previous owner over NATS.
 * Resolves 0 when every shard moved; 1, naming what is wrong, otherwise. Shards moved before a
 * failure stay moved, and are listed.
 */
export async function runCheckpointSet(options: CheckpointSetOptions, io: CliIo): Promise<number> {
  const problem = usageProblem(options);
  if (problem !== undefined) {
    io.writeError(`shoal checkpoint set: ${problem}\n`);
    return 1;
  }
  const dynamodb = new DynamoDBClient(awsClientConfig(options.dynamodbEndpoint, options.region) ?? {});
  const store = new DynamoDbLeaseStore({ client: dynamodb, tableName: options.leaseTable });
  const moves: CheckpointMove[] = [];
  let scope: LeaseScope | undefined;
  let failure: string | undefined;
  try {
    scope = await findScope(store, options);
    const leaseKeys = options.allShards
      ? await unfinishedLeaseKeys(store, scope)
      : options.shards.map((shardId) => scope!.leaseKeyOf(shardId));
    if (options.to.type === 'SEQUENCE' && options.verify) await verifySequence(options, options.shards[0]!);
    for (const leaseKey of leaseKeys) moves.push(await resetOne(store, scope, leaseKey, options.to));
  } catch (error) {
    failure = describe(error, options.leaseTable);
  } finally {
    dynamodb.destroy();
  }
  // Shards moved before a failure stay moved: their owners are told, and they are listed, all the same.
  const told = await tellOwners(moves, scope, options, io);
  report(moves, options, io, told, failure);
  if (failure === undefined) return 0;
  io.writeError(`shoal checkpoint set: ${failure}\n`);
  return 1;
}

function usageProblem(options: CheckpointSetOptions): string | undefined {
  if (options.allShards && options.shards.length > 0) return 'give either --shard or --all-shards, not both';
  if (!options.allShards && options.shards.length === 0) return 'name the shards to move with --shard, or give --all-shards';
  if (options.to.type === 'SEQUENCE' && (options.allShards || options.shards.length !== 1)) {
    return 'a sequence number belongs to one shard: give exactly one --shard with it';
  }
  return undefined;
}

/** Where the stream's leases live: a single-stream namespace, or the application's namespace of several streams. */
interface LeaseScope {
  readonly namespace: string;
  /** The stream, when the namespace is shared by several (its lease keys name the stream). */
  readonly sharedBy: string | undefined;
  leaseKeyOf(shardId: string): string;
}

async function findScope(store: DynamoDbLeaseStore, options: CheckpointSetOptions): Promise<LeaseScope> {
  const single = leaseNamespace(options.application, options.stream);
  const probe = await store.readNamespace(single, { consistency: 'eventual' });
  if (probe.leases.length > 0 || probe.workers.length > 0)
    return { namespace: single, sharedBy: undefined, leaseKeyOf: (shardId) => shardId };
  return {
    namespace: leaseNamespace(options.application),
    sharedBy: options.stream,
    leaseKeyOf: (shardId) => `${options.stream}:${shardId}`,
  };
}

async function unfinishedLeaseKeys(store: DynamoDbLeaseStore, scope: LeaseScope): Promise<string[]> {
  const { leases } = await store.readNamespace(scope.namespace);
  const keys = leases
    .filter((lease) => lease.checkpoint.type !== 'SHARD_END' && (scope.sharedBy === undefined || lease.streamName === scope.sharedBy))
    .map((lease) => lease.leaseKey)
    .sort();
  if (keys.length === 0) throw new CheckpointSetError(`no unfinished shard of the stream has a lease in ${scope.namespace}`);
  return keys;
}

/** Resets one lease, reading it again when its ownership changed between the read and the write. */
async function resetOne(store: DynamoDbLeaseStore, scope: LeaseScope, leaseKey: string, to: CheckpointPosition): Promise<CheckpointMove> {
  for (let attempt = 1; ; attempt += 1) {
    const lease = await store.getLease(scope.namespace, leaseKey);
    if (lease === undefined) throw new CheckpointSetError(`no lease for shard ${shardOf(leaseKey)} in ${scope.namespace}`);
    if (lease.checkpoint.type === 'SHARD_END') {
      throw new CheckpointSetError(
        `shard ${lease.shardId} is finished (SHARD_END): its children may have started, so moving it back would reorder its keys`,
      );
    }
    const written = await store.resetCheckpoint(lease, to);
    if (written.status === 'applied') return moveOf(lease, written.value);
    if (attempt === MAX_ATTEMPTS) {
      throw new CheckpointSetError(`the lease of shard ${lease.shardId} kept changing owner; try again`);
    }
  }
}

function moveOf(before: Lease, after: Lease): CheckpointMove {
  return {
    shardId: before.shardId,
    from: formatCheckpoint(before.checkpoint),
    to: formatCheckpoint(after.checkpoint),
    previousOwner: before.leaseOwner,
    leaseCounter: after.leaseCounter,
  };
}

/**
 * Asks Kinesis for an iterator after the sequence number: it answers InvalidArgumentException
 * when the number belongs to another shard, so a typo does not leave a lease that cannot be read.
 */
async function verifySequence(options: CheckpointSetOptions, shardId: string): Promise<void> {
  if (options.to.type !== 'SEQUENCE') return;
  const kinesis = new KinesisClient(awsClientConfig(options.kinesisEndpoint, options.region) ?? {});
  const { sequenceNumber } = options.to.position;
  try {
    await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: options.stream,
        ShardId: shardId,
        ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
        StartingSequenceNumber: sequenceNumber,
      }),
    );
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    const message = error instanceof Error ? error.message : String(error);
    if (name === 'InvalidArgumentException') {
      throw new CheckpointSetError(
        `sequence number ${sequenceNumber} is not one of shard ${shardId} of stream ${options.stream}: ${message}`,
      );
    }
    if (name === 'ResourceNotFoundException')
      throw new CheckpointSetError(`stream ${options.stream} or its shard ${shardId} does not exist: ${message}`);
    throw new CheckpointSetError(`cannot check sequence number ${sequenceNumber} with Kinesis (${message}); --no-verify skips the check`);
  } finally {
    kinesis.destroy();
  }
}

/**
 * Publishes a `checkpoint-reset` prompt per moved lease: the previous owner reads the lease and
 * stops, and the leader plans it again. Without NATS the owner finds out at its next checkpoint
 * or lease check. Resolves whether the prompts went out.
 */
async function tellOwners(
  moves: readonly CheckpointMove[],
  scope: LeaseScope | undefined,
  options: CheckpointSetOptions,
  io: CliIo,
): Promise<boolean> {
  if (scope === undefined) return false;
  const events: FleetEvent[] = moves.map((move) => ({
    type: 'checkpoint-reset',
    leaseKey: scope.leaseKeyOf(move.shardId),
    ...(move.previousOwner === undefined ? {} : { owner: move.previousOwner }),
    leaseCounter: move.leaseCounter,
  }));
  const streamName = scope.sharedBy === undefined ? options.stream : undefined;
  return promptFleet({ ...options, streamName }, events, io);
}

function report(
  moves: readonly CheckpointMove[],
  options: CheckpointSetOptions,
  io: CliIo,
  told: boolean,
  error: string | undefined,
): void {
  if (options.json) {
    const { application, stream } = options;
    io.write(`${JSON.stringify({ application, stream, moves, ownersTold: told, ...(error === undefined ? {} : { error }) })}\n`);
    return;
  }
  for (const move of moves) {
    const owner = move.previousOwner === undefined ? 'no owner' : `taken from ${move.previousOwner}`;
    io.write(`${move.shardId}: ${move.from} → ${move.to} (${owner}; lease epoch now ${move.leaseCounter})\n`);
  }
  if (told === false && moves.some((move) => move.previousOwner !== undefined)) {
    io.write('NATS did not answer: each previous owner stops at its next checkpoint or lease check\n');
  }
}

function shardOf(leaseKey: string): string {
  return leaseKey.slice(leaseKey.lastIndexOf(':') + 1);
}

function describe(error: unknown, leaseTable: string): string {
  if (error instanceof CheckpointSetError) return error.message;
  return `cannot use the lease table ${leaseTable}: ${error instanceof Error ? error.message : String(error)}`;
}
