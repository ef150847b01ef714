import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, newLeaseKey, type Lease, type LeaseStore, type Logger, type NewLease, type ShardInfo } from '@shoal/coordinator';
import type { InitialPosition } from '@shoal/processor-sdk';
import type { Clock } from '../../clock.js';
import type { ConsumedStreams, ShardRef } from '../../streams/consumed-streams.js';
import { finishedLeasesToDelete, newLeasesForShards } from './shard-lineage.js';

/** Lease creations in flight at once: a cold start of a large stream creates every lease. */
const CREATE_CONCURRENCY = 16;
/** Streams listed at once (ListShards allows 1,000 calls a second per account; be a modest user of it). */
const LIST_CONCURRENCY = 4;

export interface ShardSyncOptions {
  readonly store: LeaseStore;
  readonly kinesis: KinesisClient;
  readonly namespace: string;
  readonly streams: ConsumedStreams;
  readonly initialPosition: InitialPosition;
  readonly leaseCleanupDelayMs: number;
  readonly requestTimeoutMs: number;
  /**
   * Whether this worker writes a stream's leases: without a bus every worker does; with one the
   * leader does, and a member does for a stream the leader does not consume (a deploy that
   * changes the streams may start new workers beside an older leader).
   */
  readonly writesLeases: (streamName: string) => boolean;
  /** A finished lease was deleted from the table. */
  readonly onLeaseDeleted?: (lease: Lease) => void;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface ShardSyncRequest {
  /** Create the leases even though this worker does not write leases as a rule (it cannot reach the leader). */
  readonly evenIfNotLeader?: boolean;
}

/**
 * The shard sync: lists the shards of each consumed stream, creates leases for shards that have
 * none (following lineage, see `newLeasesForShards`), and deletes finished parents whose children
 * all started, once `leaseCleanupDelayMs` passed. A stream that cannot be listed (deleted, being
 * created, throttled) is logged and left for the next sync; the sync fails only when no stream
 * could be listed. Syncs never overlap: one asked for while another runs is folded into a
 * single full sync after it.
 */
export class ShardSync {
  private readonly finishedSince = new Map<string, number>();
  private running: Promise<number> | undefined;
  private queued: Promise<number> | undefined;

  constructor(private readonly options: ShardSyncOptions) {}

  /**
   * `after`: a shard that just ended; only its stream is listed, and only shards newer than it
   * (its children are among them). Resolves to how many leases it created.
   */
  sync(after?: ShardRef, request: ShardSyncRequest = {}): Promise<number> {
    if (!this.running) {
      this.running = this.syncOnce(after, request).finally(() => (this.running = undefined));
      return this.running;
    }
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.sync(undefined, request);
      });
    return this.queued;
  }

  private async syncOnce(after: ShardRef | undefined, { evenIfNotLeader = false }: ShardSyncRequest): Promise<number> {
    const { store, namespace, streams, clock, logger, writesLeases } = this.options;
    const consumed = after === undefined ? streams.names() : streams.has(after.streamName) ? [after.streamName] : [];
    const streamNames = evenIfNotLeader ? consumed : consumed.filter((streamName) => writesLeases(streamName));
    if (streamNames.length === 0) return 0;
    const [listings, snapshot] = await Promise.all([
      this.listAll(streamNames, after),
      // Eventually consistent: a lease created a moment ago and missed here only costs a conflict.
      store.readNamespace(namespace, { consistency: 'eventual' }),
    ]);
    const byStream = new Map<string | undefined, Lease[]>();
    for (const lease of snapshot.leases) {
      const streamName = streams.streamOf(lease);
      const group = byStream.get(streamName);
      if (group) group.push(lease);
      else byStream.set(streamName, [lease]);
    }
    const fresh = listings.flatMap(({ streamName, shards }) =>
      newLeasesForShards(shards, byStream.get(streamName) ?? [], this.options.initialPosition).map((lease) => ({
        ...lease,
        ...streams.leaseScope(streamName),
      })),
    );
    const created = await this.createLeases(fresh);
    // Only from a full listing, which names every child of a finished parent.
    if (after !== undefined) return created;
    this.trackFinished(snapshot.leases);
    const now = clock.monotonic();
    for (const { streamName, shards } of listings) {
      if (!writesLeases(streamName)) continue;
      const leases = byStream.get(streamName) ?? [];
      for (const lease of finishedLeasesToDelete(shards, leases, this.finishedSince, now, this.options.leaseCleanupDelayMs)) {
        const deleted = await store.deleteFinishedLease(namespace, lease.leaseKey);
        if (deleted.status !== 'applied') continue;
        logger.info({ streamName, shardId: lease.shardId }, 'deleted the finished lease of a parent shard');
        this.options.onLeaseDeleted?.(lease);
      }
    }
    return created;
  }

  /** Lists each stream's shards, a few streams at a time; throws only when every listing failed. */
  private async listAll(
    streamNames: readonly string[],
    after: ShardRef | undefined,
  ): Promise<{ streamName: string; shards: ShardInfo[] }[]> {
    const { kinesis, signal, logger, requestTimeoutMs } = this.options;
    const shardFilter = after === undefined ? undefined : { Type: 'AFTER_SHARD_ID' as const, ShardId: after.shardId };
    const listings: { streamName: string; shards: ShardInfo[] }[] = [];
    const failures: unknown[] = [];
    let next = 0;
    const listNext = async (): Promise<void> => {
      while (next < streamNames.length && !signal.aborted) {
        const streamName = streamNames[next++]!;
        try {
          listings.push({ streamName, shards: await listShards(kinesis, streamName, { signal, shardFilter, requestTimeoutMs }) });
        } catch (error) {
          failures.push(error);
          if (streamNames.length > 1)
            logger.warn({ err: error, streamName }, 'could not list the shards of a stream; the next shard sync tries again');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, streamNames.length) }, listNext));
    if (failures.length > 0 && listings.length === 0) throw failures[0];
    return listings;
  }

  /**
   * Creates the leases a few at a time, in waves: a child's lease only once its parents' leases
   * of this batch exist, since a child whose parent has no lease counts that parent as done.
   */
  private async createLeases(leases: readonly NewLease[]): Promise<number> {
    let created = 0;
    let remaining = leases;
    while (remaining.length > 0 && !this.options.signal.aborted) {
      const pending = new Set(remaining.map(newLeaseKey));
      const parentsPending = (lease: NewLease) =>
        (lease.parentShardIds ?? []).some((shardId) => pending.has(newLeaseKey({ shardId, streamName: lease.streamName })));
      const wave = remaining.filter((lease) => !parentsPending(lease));
      // Lineage has no cycles; should a listing ever show one, create the rest in order.
      const batch = wave.length > 0 ? wave : remaining.slice(0, 1);
      created += await this.createAll(batch);
      const done = new Set(batch);
      remaining = remaining.filter((lease) => !done.has(lease));
    }
    return created;
  }

  private async createAll(leases: readonly NewLease[]): Promise<number> {
    const { store, namespace, logger, signal } = this.options;
    let next = 0;
    let created = 0;
    const createNext = async (): Promise<void> => {
      while (next < leases.length && !signal.aborted) {
        const lease = leases[next++]!;
        const result = await store.createLease(namespace, lease);
        if (result.status !== 'applied') continue;
        created += 1;
        logger.info({ streamName: lease.streamName, shardId: lease.shardId, parentShardIds: lease.parentShardIds }, 'created lease');
      }
    };
    await Promise.all(Array.from({ length: Math.min(CREATE_CONCURRENCY, leases.length) }, createNext));
    return created;
  }

  /** When each lease was first seen at SHARD_END, for the cleanup delay. */
  private trackFinished(leases: readonly Lease[]): void {
    const now = this.options.clock.monotonic();
    const finished = new Set(leases.filter((lease) => lease.checkpoint.type === 'SHARD_END').map((lease) => lease.leaseKey));
    for (const key of this.finishedSince.keys()) if (!finished.has(key)) this.finishedSince.delete(key);
    for (const key of finished) if (!this.finishedSince.has(key)) this.finishedSince.set(key, now);
  }
}
