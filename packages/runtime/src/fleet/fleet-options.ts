import type { WorkerLoadStore } from '@shoal/coordinator';
import type { InitialPosition } from '@shoal/processor-sdk';

/** Timings of fleet coordination over the bus: leader election and NATS liveness. */
export interface CoordinationOptions {
  /** How often a worker asks the leader to confirm it alive. Default 250 ms. */
  livenessIntervalMs?: number;
  /** A worker stops processing this long after its last confirmed request. Default 1500 ms. */
  livenessSelfFenceMs?: number;
  /** The leader revokes a worker (and frees its leases) this long after its last grant. Default 2000 ms. */
  livenessFailoverMs?: number;
  /** Others take leadership over once the leader's row stood still this long. Default 2500 ms. */
  leadershipDurationMs?: number;
  /** How often the leader renews its row (its only steady DynamoDB write). Default 1000 ms. */
  leadershipRenewIntervalMs?: number;
  /**
   * How often the leader reads the whole namespace, besides the reads fleet events prompt (a
   * worker joined, left or was revoked, a lease was released, a shard ended). Default 5000 ms.
   */
  leaderFullSyncIntervalMs?: number;
  /**
   * How often a worker that hears the leader checks its own leases in the table (the owner
   * index, then a point read of each lease that changed). Default 30000 ms.
   */
  ownLeaseCheckIntervalMs?: number;
}

/** The resolved options the fleet runs on (a subset of the worker's, defaults applied). */
export interface FleetOptions {
  readonly applicationName: string;
  readonly streamRefreshIntervalMs: number;
  readonly initialPosition: InitialPosition;
  readonly leaseDurationMs: number;
  readonly heartbeatIntervalMs: number;
  readonly leaseSyncIntervalMs: number;
  readonly shardSyncIntervalMs: number;
  readonly maxLeasesPerWorker: number | undefined;
  readonly drainTimeoutMs: number;
  readonly leaseCleanupDelayMs: number;
  readonly loadReportIntervalMs: number;
  readonly kinesisRequestTimeoutMs: number;
  readonly workerLoadStore: WorkerLoadStore | undefined;
  readonly coordination: Required<CoordinationOptions>;
}
