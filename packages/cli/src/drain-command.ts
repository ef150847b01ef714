import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbLeaseStore, leaseNamespace } from '@shoal/coordinator';
import { awsClientConfig } from './aws-client-config.js';
import { promptFleet } from './fleet-prompts.js';
import type { CliIo } from './program.js';

export interface DrainOptions {
  readonly application: string;
  readonly stream?: string;
  readonly worker: string;
  readonly leaseTable: string;
  readonly region?: string;
  readonly dynamodbEndpoint?: string;
  /** Wait until the worker holds no lease, at most this long; 0: do not wait. */
  readonly waitMs: number;
  /** NATS of the fleet, to tell the worker itself (so it stays drained if it must register again). */
  readonly nats: string;
  readonly connectTimeoutMs: number;
}

const POLL_MS = 500;

/**
 * `shoal drain`: marks a worker's record `leaving` in the lease table, as the worker does itself
 * when it shuts down, and says so on the fleet's NATS subjects (planners replan at once, and the
 * worker learns it was drained, so that it registers as leaving should it ever register again). Planners then give it no lease and move each of its leases to another
 * worker through the usual handoff (its processor checkpoints in `shutdownRequested`); the
 * worker keeps running, holding nothing, until it is restarted. With `waitMs`, waits until it
 * holds no lease. Resolves 0, or 1 when the worker is not registered, the table cannot be
 * read, or the wait ran out.
 */
export async function runDrain(options: DrainOptions, io: CliIo): Promise<number> {
  const client = new DynamoDBClient(awsClientConfig(options.dynamodbEndpoint, options.region) ?? {});
  const store = new DynamoDbLeaseStore({ client, tableName: options.leaseTable });
  try {
    const namespace = await namespaceOf(store, options);
    if (namespace === undefined) {
      io.writeError(`shoal drain: no worker ${options.worker} is registered in application ${options.application}\n`);
      return 1;
    }
    const marked = await store.markWorkerLeaving(namespace, options.worker);
    if (marked.status !== 'applied') {
      io.writeError(`shoal drain: worker ${options.worker} left before it could be drained\n`);
      return 1;
    }
    io.write(`worker ${options.worker} is leaving: its leases move to the other workers\n`);
    const streamName = namespace === leaseNamespace(options.application) ? undefined : options.stream;
    const told = await promptFleet({ ...options, streamName }, [{ type: 'worker-leaving', workerId: options.worker }], io);
    if (!told) io.write('NATS did not answer: the fleet sees the drain at its next read of the table\n');
    if (options.waitMs === 0) return 0;
    const deadline = Date.now() + options.waitMs;
    for (;;) {
      const held = await leasesHeld(store, namespace, options.worker);
      if (held === 0) {
        io.write(`worker ${options.worker} holds no lease\n`);
        return 0;
      }
      if (Date.now() > deadline) {
        io.writeError(`shoal drain: worker ${options.worker} still holds ${held} leases after ${options.waitMs} ms\n`);
        return 1;
      }
      await sleep(POLL_MS);
    }
  } catch (error) {
    io.writeError(
      `shoal drain: cannot use the lease table ${options.leaseTable}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  } finally {
    client.destroy();
  }
}

/**
 * The leases `worker` still has to give up: those it owns, found through the owner index (or a
 * namespace read on a table without it), less finished shards, whose rows keep their last owner
 * until they are cleaned up.
 */
async function leasesHeld(store: DynamoDbLeaseStore, namespace: string, worker: string): Promise<number> {
  const indexed = await store.listOwnedLeases(namespace, worker);
  const leases =
    indexed === undefined
      ? (await store.readNamespace(namespace, { consistency: 'eventual' })).leases
      : await Promise.all(indexed.map((ref) => store.getLease(namespace, ref.leaseKey)));
  return leases.filter((lease) => lease !== undefined && lease.leaseOwner === worker && lease.checkpoint.type !== 'SHARD_END').length;
}

/** The namespace the worker is registered in: the single-stream one when `stream` is given, else the application's. */
async function namespaceOf(store: DynamoDbLeaseStore, options: DrainOptions): Promise<string | undefined> {
  const candidates = [
    ...(options.stream === undefined ? [] : [leaseNamespace(options.application, options.stream)]),
    leaseNamespace(options.application),
  ];
  for (const namespace of candidates) {
    if ((await store.getWorker(namespace, options.worker)) !== undefined) return namespace;
  }
  return undefined;
}
