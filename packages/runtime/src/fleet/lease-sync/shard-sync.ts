import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, type Lease, type LeaseStore, type Logger } from '@shoal/coordinator';
import type { InitialPosition } from '@shoal/processor-sdk';
import type { Clock } from '../../clock.js';
import { finishedLeasesToDelete, newLeasesForShards } from './shard-lineage.js';

export interface ShardSyncOptions {
  readonly store: LeaseStore;
  readonly kinesis: KinesisClient;
  readonly namespace: string;
  readonly streamName: string;
  readonly initialPosition: InitialPosition;
  readonly leaseCleanupDelayMs: number;
  readonly requestTimeoutMs: number;
  /** Whether this worker deletes finished parents (the leader, or every worker without a bus). */
  readonly cleansUp: () => boolean;
  /** A finished lease was deleted from the table. */
  readonly onLeaseDeleted?: (lease: Lease) => void;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The shard sync: lists the stream's shards, creates leases for shards that have none (following
 * lineage, see `newLeasesForShards`), and deletes finished parents whose children all started,
 * once `leaseCleanupDelayMs` passed.
 */
export class ShardSync {
  private readonly finishedSince = new Map<string, number>();

  constructor(private readonly options: ShardSyncOptions) {}

  /** `after`: a shard that just ended; only shards newer than it are listed (its children are among them). */
  async sync(after?: string): Promise<void> {
    const { store, kinesis, namespace, streamName, initialPosition, signal, clock, logger } = this.options;
    const shardFilter = after === undefined ? undefined : { Type: 'AFTER_SHARD_ID' as const, ShardId: after };
    const [shards, snapshot] = await Promise.all([
      listShards(kinesis, streamName, { signal, shardFilter, requestTimeoutMs: this.options.requestTimeoutMs }),
      store.readNamespace(namespace),
    ]);
    for (const lease of newLeasesForShards(shards, snapshot.leases, initialPosition)) {
      const created = await store.createLease(namespace, lease);
      if (created.status === 'applied') logger.info({ shardId: lease.shardId, parentShardIds: lease.parentShardIds }, 'created lease');
    }
    // Only from a full listing, which names every child of a finished parent.
    if (after !== undefined || !this.options.cleansUp()) return;
    this.trackFinished(snapshot.leases);
    const now = clock.monotonic();
    for (const lease of finishedLeasesToDelete(shards, snapshot.leases, this.finishedSince, now, this.options.leaseCleanupDelayMs)) {
      const deleted = await store.deleteFinishedLease(namespace, lease.leaseKey);
      if (deleted.status !== 'applied') continue;
      logger.info({ shardId: lease.shardId }, 'deleted the finished lease of a parent shard');
      this.options.onLeaseDeleted?.(lease);
    }
  }

  /** When each lease was first seen at SHARD_END, for the cleanup delay. */
  private trackFinished(leases: readonly Lease[]): void {
    const now = this.options.clock.monotonic();
    const finished = new Set(leases.filter((lease) => lease.checkpoint.type === 'SHARD_END').map((lease) => lease.leaseKey));
    for (const key of this.finishedSince.keys()) if (!finished.has(key)) this.finishedSince.delete(key);
    for (const key of finished) if (!this.finishedSince.has(key)) this.finishedSince.set(key, now);
  }
}
