import { z } from 'zod';

/** Shards one report lists at most: above a node's 2,000 leases, and (with names of 128 characters) about 600 KB, within NATS's 1 MiB payload limit. */
export const MAX_REPORTED_SHARDS = 3_000;

const name = z.string().min(1).max(256);

/**
 * What each worker tells observers about itself every load-report interval, on NATS core
 * (nothing is stored): whether it leads its fleet, and how far behind each shard it runs is.
 * Observers (the dashboard) draw lag over time from these, and judge a worker gone when its
 * reports stop. Display only: nothing acts on a report, so an unsigned one is harmless.
 */
export const workerLiveReportSchema = z.object({
  application: name,
  workerId: name,
  /** The worker's state: `running`, `draining`, `stopped`... */
  state: z.string().min(1).max(32),
  /** Leads its fleet (the fleet of its stream, or of the application's streams). */
  leading: z.boolean(),
  /** How the worker proves it is alive (`nats` or `table`); absent before it joined. */
  liveness: z.string().max(32).optional(),
  /** The next report comes within this; observers drop a worker after missing a few. */
  intervalMs: z.number().int().positive(),
  /** Epoch milliseconds. */
  at: z.number().int().nonnegative(),
  shards: z.array(z.object({ streamName: name, shardId: name, lagMs: z.number().nonnegative() })).max(MAX_REPORTED_SHARDS),
});

export type WorkerLiveReport = z.infer<typeof workerLiveReportSchema>;
