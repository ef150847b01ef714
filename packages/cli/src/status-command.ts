import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDbLeaseStore,
  connectNats,
  leaseNamespace,
  type Lease,
  type LeaseStateSnapshot,
  type NamespaceSnapshot,
  type WorkerRecord,
} from '@shoal/coordinator';
import { formatCheckpoint } from '@shoal/processor-sdk';
import { awsClientConfig } from './aws-client-config.js';
import { alignColumns, formatAge } from './fleet-table.js';
import { openFleetWatch } from './fleet-watch.js';
import type { CliIo } from './program.js';

export interface StatusOptions {
  readonly application: string;
  /** The stream of a single-stream application, or one stream of a multi-stream one. */
  readonly stream?: string;
  readonly leaseTable: string;
  readonly region?: string;
  readonly dynamodbEndpoint?: string;
  readonly nats: string;
  readonly json: boolean;
  readonly connectTimeoutMs: number;
}

/** One shard as `shoal status` shows it. */
export interface ShardStatus {
  readonly stream: string | undefined;
  readonly shardId: string;
  readonly owner: string | undefined;
  /** The lease machine's state as its worker last published it; undefined without NATS. */
  readonly state: string | undefined;
  readonly leaseCounter: number;
  readonly checkpoint: string;
  /** Milliseconds since the last checkpoint write; undefined when none was written. */
  readonly checkpointAgeMs: number | undefined;
}

export interface WorkerStatus {
  readonly workerId: string;
  readonly leases: number;
  readonly liveness: string;
  readonly status: string;
}

/**
 * `shoal status`: the application's shards (owner, lease counter, checkpoint and its age from
 * the lease table; machine state from the lease-state bucket on NATS, when it answers) and its
 * workers (leases held, liveness mode, status). Reads only; resolves 0, or 1 when the lease
 * table cannot be read.
 */
export async function runStatus(options: StatusOptions, io: CliIo): Promise<number> {
  const client = new DynamoDBClient(awsClientConfig(options.dynamodbEndpoint, options.region) ?? {});
  let snapshot: NamespaceSnapshot;
  try {
    snapshot = await readApplication(new DynamoDbLeaseStore({ client, tableName: options.leaseTable }), options);
  } catch (error) {
    io.writeError(
      `shoal status: cannot read the lease table ${options.leaseTable}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  } finally {
    client.destroy();
  }
  const states = await machineStates(options, io);
  const now = Date.now();
  const shards = snapshot.leases
    .filter((lease) => options.stream === undefined || lease.streamName === undefined || lease.streamName === options.stream)
    .map((lease) => shardStatus(lease, states, now, options.stream))
    .sort((a, b) => compare(a.stream ?? '', b.stream ?? '') || compare(a.shardId, b.shardId));
  const workers = workerStatuses(snapshot.workers, shards);
  if (options.json)
    io.write(`${JSON.stringify({ application: options.application, shards, workers, machineStates: states !== undefined })}\n`);
  else io.write(renderStatus(shards, workers, states !== undefined));
  return 0;
}

/**
 * A single-stream application's namespace (`<app>/<stream>`) when `stream` names one that has
 * leases; otherwise the application's namespace of several streams (`<app>`).
 */
async function readApplication(store: DynamoDbLeaseStore, options: StatusOptions): Promise<NamespaceSnapshot> {
  if (options.stream !== undefined) {
    const single = await store.readNamespace(leaseNamespace(options.application, options.stream), { consistency: 'eventual' });
    if (single.leases.length > 0) return single;
  }
  return store.readNamespace(leaseNamespace(options.application), { consistency: 'eventual' });
}

/** The latest published machine state per `<stream>|<leaseKey>`, or undefined when NATS does not answer. */
async function machineStates(options: StatusOptions, io: CliIo): Promise<Map<string, LeaseStateSnapshot> | undefined> {
  const link = connectNats({ servers: options.nats, name: `shoal-status-${options.application}`, logger: io.logger });
  try {
    if (!(await link.ready(options.connectTimeoutMs))) return undefined;
    const watch = await openFleetWatch({
      connection: link.connection()!,
      application: options.application,
      logger: io.logger,
      onChange: () => {},
    });
    await watch.caughtUp;
    const states = new Map([...watch.states.values()].map((state) => [`${state.streamName}|${state.leaseKey}`, state]));
    await watch.stop();
    return states;
  } catch {
    return undefined;
  } finally {
    await link.close();
  }
}

function shardStatus(
  lease: Lease,
  states: Map<string, LeaseStateSnapshot> | undefined,
  now: number,
  stream: string | undefined,
): ShardStatus {
  const streamName = lease.streamName ?? stream;
  const published = states?.get(`${streamName}|${lease.leaseKey}`);
  // A published state is the lease's only if it belongs to the ownership the table shows.
  const current = published && published.leaseCounter === lease.leaseCounter ? published.state : undefined;
  return {
    stream: streamName,
    shardId: lease.shardId,
    owner: lease.leaseOwner,
    state: current ?? (states === undefined ? undefined : lease.leaseOwner === undefined ? 'unowned' : 'unknown'),
    leaseCounter: lease.leaseCounter,
    checkpoint: formatCheckpoint(lease.checkpoint),
    checkpointAgeMs: lease.checkpointedAt === undefined ? undefined : Math.max(0, now - lease.checkpointedAt),
  };
}

function workerStatuses(records: readonly WorkerRecord[], shards: readonly ShardStatus[]): WorkerStatus[] {
  return records
    .map((record) => ({
      workerId: record.workerId,
      leases: shards.filter((shard) => shard.owner === record.workerId).length,
      liveness: record.liveness,
      status: record.status,
    }))
    .sort((a, b) => compare(a.workerId, b.workerId));
}

function renderStatus(shards: readonly ShardStatus[], workers: readonly WorkerStatus[], withStates: boolean): string {
  const multiStream = new Set(shards.map((shard) => shard.stream)).size > 1;
  const shardRows = shards.map((shard) => [
    ...(multiStream ? [shard.stream ?? '-'] : []),
    shard.shardId,
    shard.owner ?? '-',
    shard.state ?? '-',
    String(shard.leaseCounter),
    shard.checkpoint,
    shard.checkpointAgeMs === undefined ? '-' : formatAge(shard.checkpointAgeMs),
  ]);
  const shardHeader = [...(multiStream ? ['STREAM'] : []), 'SHARD', 'OWNER', 'STATE', 'COUNTER', 'CHECKPOINT', 'CHECKPOINTED'];
  const workerRows = workers.map((worker) => [worker.workerId, String(worker.leases), worker.liveness, worker.status]);
  return [
    ...alignColumns([shardHeader, ...shardRows]),
    withStates ? '' : '(no machine states: NATS did not answer)',
    ...alignColumns([['WORKER', 'LEASES', 'LIVENESS', 'STATUS'], ...workerRows]),
    `${shards.length} shards, ${shards.filter((shard) => shard.owner === undefined).length} unowned, ${workers.length} workers`,
    '',
  ].join('\n');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
