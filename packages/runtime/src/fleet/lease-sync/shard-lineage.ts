import type { Lease, NewLease, ShardInfo } from '@shoal/coordinator';
import type { InitialPosition } from '@shoal/processor-sdk';

/**
 * The leases to create for shards that have none, following lineage:
 * - a shard with a descendant that has a lease was consumed (or skipped) already: none;
 * - a child of a shard this application reads continues where its parent ended: TRIM_HORIZON;
 * - otherwise the initial position, except that an application starting at LATEST starts at
 *   the open shards and does not replay closed ancestors (as KCL does).
 * Parents are always listed before their children here, so a lease's parents exist when the
 * lease is created, and the lease waits for them (see `eligibleLeases`).
 */
export function newLeasesForShards(shards: readonly ShardInfo[], leases: readonly Lease[], initialPosition: InitialPosition): NewLease[] {
  const leased = new Set(leases.map((lease) => lease.shardId));
  const children = childrenByParent(shards);
  const hasLeasedDescendant = memoize((shardId: string, self: (id: string) => boolean): boolean =>
    (children.get(shardId) ?? []).some((child) => leased.has(child) || self(child)),
  );
  const created: NewLease[] = [];
  for (const shard of inLineageOrder(shards)) {
    if (leased.has(shard.shardId) || hasLeasedDescendant(shard.shardId)) continue;
    const continuesParent = shard.parentShardIds.some((parent) => leased.has(parent));
    const closed = shard.endingSequenceNumber !== undefined;
    if (!continuesParent && closed && initialPosition.type === 'LATEST') continue;
    created.push({
      shardId: shard.shardId,
      checkpoint: continuesParent ? { type: 'TRIM_HORIZON' } : initialPosition,
      parentShardIds: shard.parentShardIds,
      hashKeyRange: shard.hashKeyRange,
    });
    leased.add(shard.shardId);
  }
  return created;
}

/**
 * Finished leases (SHARD_END) whose every child shard has a lease that made progress (a
 * checkpoint past its start), and that were seen finished for at least `delayMs`. Deleting them
 * then loses nothing: the children no longer wait for them, and `newLeasesForShards` never
 * recreates a shard whose descendants have leases.
 */
export function finishedLeasesToDelete(
  shards: readonly ShardInfo[],
  leases: readonly Lease[],
  finishedSinceMs: ReadonlyMap<string, number>,
  nowMs: number,
  delayMs: number,
): Lease[] {
  const children = childrenByParent(shards);
  const byShard = new Map(leases.map((lease) => [lease.shardId, lease]));
  return leases.filter((lease) => {
    if (lease.checkpoint.type !== 'SHARD_END') return false;
    const since = finishedSinceMs.get(lease.leaseKey);
    if (since === undefined || nowMs - since < delayMs) return false;
    const kids = children.get(lease.shardId) ?? [];
    return kids.length > 0 && kids.every((child) => startedOn(byShard.get(child)));
  });
}

function startedOn(lease: Lease | undefined): boolean {
  return lease !== undefined && (lease.checkpoint.type === 'SEQUENCE' || lease.checkpoint.type === 'SHARD_END');
}

function childrenByParent(shards: readonly ShardInfo[]): Map<string, string[]> {
  const children = new Map<string, string[]>();
  for (const shard of shards) {
    for (const parent of shard.parentShardIds) children.set(parent, [...(children.get(parent) ?? []), shard.shardId]);
  }
  return children;
}

/** Shards with every listed parent before them. */
function inLineageOrder(shards: readonly ShardInfo[]): ShardInfo[] {
  const byId = new Map(shards.map((shard) => [shard.shardId, shard]));
  const ordered: ShardInfo[] = [];
  const placed = new Set<string>();
  const place = (shard: ShardInfo): void => {
    if (placed.has(shard.shardId)) return;
    placed.add(shard.shardId);
    for (const parent of shard.parentShardIds) {
      const parentShard = byId.get(parent);
      if (parentShard) place(parentShard);
    }
    ordered.push(shard);
  };
  for (const shard of shards) place(shard);
  return ordered;
}

function memoize(compute: (key: string, self: (key: string) => boolean) => boolean): (key: string) => boolean {
  const cache = new Map<string, boolean>();
  const self = (key: string): boolean => {
    const known = cache.get(key);
    if (known !== undefined) return known;
    cache.set(key, false);
    const value = compute(key, self);
    cache.set(key, value);
    return value;
  };
  return self;
}
