import type { Checkpoint } from '@shoal/processor-sdk';

/**
 * One shard lease, as stored in the lease table. `leaseCounter` is the fencing epoch: it grows
 * by one on every change of ownership (acquire, transfer, release) and on nothing else, so a
 * write conditioned on `(leaseOwner, leaseCounter)` fails for anyone who is not the current owner
 * of the current ownership period.
 */
export interface Lease {
  readonly namespace: string;
  readonly leaseKey: string;
  readonly shardId: string;
  /**
   * The stream of the shard, on leases of an application that consumes several streams (their
   * keys are `<stream>:<shardId>`); absent on a single-stream namespace's leases, whose stream the
   * namespace names.
   */
  readonly streamName: string | undefined;
  /** Absent when nobody owns the lease. */
  readonly leaseOwner: string | undefined;
  readonly leaseCounter: number;
  readonly checkpoint: Checkpoint;
  readonly parentShardIds: readonly string[];
  readonly childShardIds: readonly string[];
  readonly hashKeyRange: { readonly startingHashKey: string; readonly endingHashKey: string } | undefined;
  /** A worker asked the owner to hand this lease over; the owner drains, then transfers. */
  readonly pendingOwner: string | undefined;
  /** Epoch milliseconds of the last checkpoint write, for operators. */
  readonly checkpointedAt: number | undefined;
}

/** The fields that identify one ownership period; every fenced write is conditioned on them. */
export interface LeaseOwnership {
  readonly namespace: string;
  readonly leaseKey: string;
  readonly leaseOwner: string;
  readonly leaseCounter: number;
}

/** What a new lease starts with. */
export interface NewLease {
  readonly shardId: string;
  /** Set for an application consuming several streams: the lease key becomes `<stream>:<shardId>`. */
  readonly streamName?: string;
  readonly checkpoint: Checkpoint;
  readonly parentShardIds?: readonly string[];
  readonly hashKeyRange?: { readonly startingHashKey: string; readonly endingHashKey: string };
}

export type WorkerStatus = 'active' | 'leaving';

/**
 * How a worker proves it is alive.
 * - `table`: by bumping `heartbeat` in its record; others judge it dead after a lease duration
 *   of an unchanged heartbeat (slow, needs nothing but DynamoDB).
 * - `nats`: by liveness grants from the leader over NATS; only the leader judges it dead, and
 *   only by deleting the record while it still says `nats` (fast, no DynamoDB writes).
 * A worker switches between the two with a conditional write, so a switch and a revocation
 * can never both succeed.
 */
export type WorkerLivenessMode = 'table' | 'nats';

/**
 * A worker's liveness record. The worker bumps `heartbeat` on a fixed interval; one write covers
 * every lease it owns, so renewal cost grows with workers, not with leases. Others judge a worker
 * dead when they have seen the same `heartbeat` for a whole lease duration of their own clock.
 */
export interface WorkerRecord {
  readonly namespace: string;
  readonly workerId: string;
  readonly heartbeat: number;
  readonly status: WorkerStatus;
  readonly liveness: WorkerLivenessMode;
  /** In `nats` mode: the leadership term whose grants the worker lives on. Only that term's leader may revoke it. */
  readonly grantTerm: number | undefined;
  readonly startedAt: number;
  readonly host: string | undefined;
  /**
   * The worker's secret for signing what it says on the coordination bus; receivers check a
   * message against the key of the worker it names. Absent on records of workers without a bus.
   */
  readonly fleetKey?: string;
  /**
   * The streams the worker consumes now, in a namespace of several streams (a pattern's matches
   * as it last listed them): a planner hands each worker only leases of its streams, so workers
   * whose lists differ (a deploy that changes them) neither refuse the same lease for ever nor
   * leave a stream unplanned. Absent in a single-stream namespace.
   */
  readonly streams?: readonly string[];
  /**
   * The worker listens for the leader's plans on its own subject (`<fleet>.plan.<worker>`). A
   * record without it (a worker of an earlier release) gets its moves in a plan published to the
   * whole fleet, as such workers expect.
   */
  readonly ownPlanSubject?: boolean;
}

/** What a worker's record states besides its id. */
export interface WorkerRegistration {
  readonly host?: string;
  /** The worker's secret for signing bus messages (see `WorkerRecord.fleetKey`). */
  readonly fleetKey?: string;
  readonly streams?: readonly string[];
  /** The worker listens for plans on its own subject (see `WorkerRecord.ownPlanSubject`). */
  readonly ownPlanSubject?: boolean;
  /** `leaving` for a worker that registers again after it was drained: it must stay drained. Default `active`. */
  readonly status?: WorkerStatus;
}

/**
 * The namespace's leadership row. The leader bumps `heartbeat` to keep it; `term` grows by one
 * with every new leader. Others take it over once they have seen the same (leader, term,
 * heartbeat) for a whole leadership duration of their own clock.
 */
export interface LeadershipRecord {
  readonly namespace: string;
  /** Absent once the leader resigned: the row then only keeps the last term, so terms never repeat. */
  readonly leaderId: string | undefined;
  readonly term: number;
  readonly heartbeat: number;
}

/**
 * The result of a conditional write: `applied` with the row as written, or `conflict` when the
 * row no longer matched what the caller expected. A conflict is normal contention, not an error.
 */
export type ConditionalWriteResult<T> = { readonly status: 'applied'; readonly value: T } | { readonly status: 'conflict' };

/**
 * The namespace of an application's leases: `<application>/<stream>` for an application that
 * consumes one stream, `<application>` for one that consumes several (its lease keys name the
 * stream). Application and stream names cannot contain `/`, so no two namespaces meet.
 */
export function leaseNamespace(applicationName: string, streamName?: string): string {
  return streamName === undefined ? applicationName : `${applicationName}/${streamName}`;
}

/** The key of a new lease: the shard id, qualified by its stream when the lease names one. */
export function newLeaseKey(lease: Pick<NewLease, 'shardId' | 'streamName'>): string {
  return lease.streamName === undefined ? lease.shardId : `${lease.streamName}:${lease.shardId}`;
}

/** The keys of a lease's parents' leases (in the same stream). */
export function parentLeaseKeys(lease: Pick<Lease, 'parentShardIds' | 'streamName'>): string[] {
  return lease.parentShardIds.map((shardId) => newLeaseKey({ shardId, streamName: lease.streamName }));
}
