import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, type Lease, type LeaseStore, type Logger, type NewLease } from '@shoal/coordinator';
import type { InitialPosition } from '@shoal/processor-sdk';
import type { Clock } from '../../clock.js';
import { finishedLeasesToDelete, newLeasesForShards } from './shard-lineage.js';

/** Lease creations in flight at once: a cold start of a large stream creates every lease. */
const CREATE_CONCURRENCY = 16;

export interface ShardSyncOptions {
  readonly store: LeaseStore;
  readonly kinesis: KinesisClient;
  readonly namespace: string;
  readonly streamName: string;
  readonly initialPosition: InitialPosition;
  readonly leaseCleanupDelayMs: number;
  readonly requestTimeoutMs: number;
  /** Whether this worker writes leases (the leader, or every worker without a bus). */
  readonly writesLeases: () => boolean;
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
 * The shard sync: lists the stream's shards, creates leases for shards that have none (following
 * lineage, see `newLeasesForShards`), and deletes finished parents whose children all started,
 * once `leaseCleanupDelayMs` passed. Syncs never overlap: one asked for while another runs is
 * folded into a single full sync after it.
 */
export class ShardSync {
  private readonly finishedSince = new Map<string, number>();
  private running: Promise<number> | undefined;
  private queued: Promise<number> | undefined;

  constructor(private readonly options: ShardSyncOptions) {}

  /**
   * `after`: a shard that just ended; only shards newer than it are listed (its children are
   * among them). Resolves to how many leases it created.
   */
  sync(after?: string, request: ShardSyncRequest = {}): Promise<number> {
    if (!request.evenIfNotLeader && !this.options.writesLeases()) return Promise.resolve(0);
    if (!this.running) {
      this.running = this.syncOnce(after).finally(() => (this.running = undefined));
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

  private async syncOnce(after: string | undefined): Promise<number> {
    const { store, kinesis, namespace, streamName, initialPosition, signal, clock } = this.options;
    const shardFilter = after === undefined ? undefined : { Type: 'AFTER_SHARD_ID' as const, ShardId: after };
    const [shards, snapshot] = await Promise.all([
      listShards(kinesis, streamName, { signal, shardFilter, requestTimeoutMs: this.options.requestTimeoutMs }),
      // Eventually consistent: a lease created a moment ago and missed here only costs a conflict.
      store.readNamespace(namespace, { consistency: 'eventual' }),
    ]);
    const created = await this.createLeases(newLeasesForShards(shards, snapshot.leases, initialPosition));
    // Only from a full listing, which names every child of a finished parent.
    if (after !== undefined || !this.options.writesLeases()) return created;
    this.trackFinished(snapshot.leases);
    const now = clock.monotonic();
    for (const lease of finishedLeasesToDelete(shards, snapshot.leases, this.finishedSince, now, this.options.leaseCleanupDelayMs)) {
      const deleted = await store.deleteFinishedLease(namespace, lease.leaseKey);
      if (deleted.status !== 'applied') continue;
      this.options.logger.info({ shardId: lease.shardId }, 'deleted the finished lease of a parent shard');
      this.options.onLeaseDeleted?.(lease);
    }
    return created;
  }

  /**
   * Creates the leases a few at a time, in waves: a child's lease only once its parents' leases
   * of this batch exist, since a child whose parent has no lease counts that parent as done.
   */
  private async createLeases(leases: readonly NewLease[]): Promise<number> {
    let created = 0;
    let remaining = leases;
    while (remaining.length > 0 && !this.options.signal.aborted) {
      const pending = new Set(remaining.map((lease) => lease.shardId));
      const wave = remaining.filter((lease) => !(lease.parentShardIds ?? []).some((parent) => pending.has(parent)));
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
        logger.info({ shardId: lease.shardId, parentShardIds: lease.parentShardIds }, 'created lease');
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
