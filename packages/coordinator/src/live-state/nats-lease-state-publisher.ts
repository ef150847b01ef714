import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../logger.js';
import type { NatsLink } from '../nats/connect-nats.js';
import type { LeaseStatePublisher, LeaseStateSnapshot } from './lease-state.js';
import type { WorkerLiveReport } from './worker-live-report.js';

/**
 * Subject of one shard's lease transitions, `shoal.<app>.lease.<shardId>`; without a shard, the
 * wildcard `shoal.<app>.lease.*` that observers subscribe to. Names are sanitized to subject tokens.
 */
export function leaseStateSubject(application: string, shardId?: string): string {
  return `shoal.${subjectToken(application)}.lease.${shardId === undefined ? '*' : subjectToken(shardId)}`;
}

/** Subject of the application's worker reports (see `WorkerLiveReport`), `shoal.<app>.workers`. */
export function workerReportSubject(application: string): string {
  return `shoal.${subjectToken(application)}.workers`;
}

/** JetStream KV bucket holding the latest state of every lease of the application, `shoal_<app>_leases`. */
export function leaseStateBucket(application: string): string {
  return `shoal_${subjectToken(application)}_leases`;
}

/**
 * Key of one lease in the {@link leaseStateBucket}: `<stream>.<leaseKey>`, each part limited to the
 * characters KV keys allow (dots too become `_`, so a key always has exactly two tokens).
 */
export function leaseStateKey(streamName: string, leaseKey: string): string {
  return `${kvToken(streamName)}.${kvToken(leaseKey)}`;
}

/**
 * How long an entry stays in the lease-state bucket without being written again. Publishers
 * write the state of every lease they hold again well within it, so only the entries of leases
 * nobody holds (ended, given up by a worker that stopped, deleted) leave.
 */
export const LEASE_STATE_MAX_AGE_MS = 60 * 60_000;

/**
 * Opens the application's lease-state bucket, creating it (history 1, entries expiring after
 * {@link LEASE_STATE_MAX_AGE_MS}) when missing; a bucket made before entries expired gets the
 * expiry too.
 */
export async function openLeaseStateBucket(connection: NatsConnection, application: string): Promise<KV> {
  const kv = await new Kvm(connection).create(leaseStateBucket(application), {
    history: 1,
    ttl: LEASE_STATE_MAX_AGE_MS,
    description: `Shoal: latest lease machine state of application ${application}`,
  });
  const { streamInfo } = await kv.status();
  if (!streamInfo.config.max_age) {
    const jsm = await jetstreamManager(connection);
    await jsm.streams.update(streamInfo.config.name, { max_age: nanos(LEASE_STATE_MAX_AGE_MS) });
  }
  return kv;
}

function subjectToken(value: string): string {
  return value.length === 0 ? '_' : value.replace(/[^A-Za-z0-9_-]/g, '_');
}

function kvToken(value: string): string {
  return value.length === 0 ? '_' : value.replace(/[^A-Za-z0-9_\-/=]/g, '_');
}

export interface NatsLeaseStatePublisherOptions {
  /** The worker's NATS link; the publisher never closes it. */
  readonly link: NatsLink;
  readonly application: string;
  readonly logger: Logger;
  /** Longest wait in `close()` for KV puts already under way. Default 2000. */
  readonly closeTimeoutMs?: number;
  /** How often the state of each lease still held is written again (the bucket expires entries). Default 20 minutes. */
  readonly refreshIntervalMs?: number;
}

/** Per KV key: a write under way, and the newest one waiting behind it (older ones are skipped); no payload purges the key. */
interface KeySlot {
  pending: { readonly payload: string | undefined; readonly leaseKey: string } | undefined;
  readonly done: Promise<void>;
}

const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
/**
 * A purged key leaves a marker in the bucket's stream; markers older than 30 minutes (time for
 * every watcher to see them) are cleared at most this often, so the bucket does not grow with
 * every lease ever cleaned up.
 */
const CLEAR_MARKERS_INTERVAL_MS = 10 * 60_000;
const MARKER_AGE_MS = 30 * 60_000;
/** Each held lease's state is written again this often, well within the bucket's expiry. */
const DEFAULT_REFRESH_INTERVAL_MS = LEASE_STATE_MAX_AGE_MS / 3;
/** Top-level states of a lease nobody holds: not written again, so they expire. */
const LET_GO = new Set(['ended', 'stolen']);
/** At most one warning per this interval for failed KV writes; the rest go to debug. */
const KV_WARN_INTERVAL_MS = 10_000;

/**
 * {@link LeaseStatePublisher} on NATS: each transition goes out on {@link leaseStateSubject} and
 * the latest one per lease is kept in the {@link leaseStateBucket} KV bucket. Publishing never
 * throws or waits; while NATS is disconnected transitions are dropped (the bucket catches up
 * with the next transition of each lease).
 *
 * @example
 * ```ts
 * const publisher = NatsLeaseStatePublisher.create({ link, application: 'orders', logger });
 * publisher.publish({ application: 'orders', streamName, leaseKey, shardId, workerId, state: 'owned.processing', at: Date.now() });
 * await publisher.close();
 * ```
 */
export class NatsLeaseStatePublisher implements LeaseStatePublisher {
  private readonly link: NatsLink;
  private readonly application: string;
  private readonly logger: Logger;
  private readonly closeTimeoutMs: number;
  private readonly slots = new Map<string, KeySlot>();
  private bucket: { readonly connection: NatsConnection; readonly kv: Promise<KV> } | undefined;
  private closed: Promise<void> | undefined;
  private lastKvWarnAt = Number.NEGATIVE_INFINITY;
  private suppressedKvWarnings = 0;
  private markersClearedAt = Number.NEGATIVE_INFINITY;
  /** The latest payload of each lease still held, written again every refresh interval. */
  private readonly held = new Map<string, { readonly payload: string; readonly leaseKey: string }>();
  private readonly refreshTimer: NodeJS.Timeout;

  static create(options: NatsLeaseStatePublisherOptions): NatsLeaseStatePublisher {
    return new NatsLeaseStatePublisher(options);
  }

  constructor(options: NatsLeaseStatePublisherOptions) {
    this.link = options.link;
    this.application = options.application;
    this.logger = options.logger;
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.refreshTimer = setInterval(() => this.refresh(), options.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS);
    this.refreshTimer.unref();
  }

  publish(snapshot: LeaseStateSnapshot): void {
    if (this.closed) return;
    const { leaseKey } = snapshot;
    const key = leaseStateKey(snapshot.streamName, leaseKey);
    const payload = JSON.stringify(snapshot);
    // Kept whether or not NATS is up: a lease let go during an outage must never be written
    // again by a refresh, over its next owner's state.
    if (LET_GO.has(snapshot.state.split('.')[0]!)) this.held.delete(key);
    else this.held.set(key, { payload, leaseKey });
    const connection = this.link.connection();
    if (!connection) {
      this.logger.debug({ leaseKey, state: snapshot.state }, 'nats disconnected, lease state not published');
      return;
    }
    try {
      connection.publish(leaseStateSubject(this.application, snapshot.shardId), payload);
    } catch (err) {
      this.logger.warn({ err, leaseKey }, 'lease state publish failed');
      return;
    }
    this.enqueuePut(key, { payload, leaseKey });
  }

  /** Sends the worker's report on {@link workerReportSubject}; dropped while NATS is disconnected. */
  reportWorker(report: WorkerLiveReport): void {
    const connection = this.closed ? undefined : this.link.connection();
    if (!connection) return;
    try {
      connection.publish(workerReportSubject(this.application), JSON.stringify(report));
    } catch (err) {
      this.logger.debug({ err }, 'worker report not published');
    }
  }

  /** Purges the lease's entry from the bucket (after any write of it still under way). */
  forget(streamName: string, leaseKey: string): void {
    if (this.closed) return;
    const key = leaseStateKey(streamName, leaseKey);
    this.held.delete(key);
    this.enqueuePut(key, { payload: undefined, leaseKey });
  }

  /** Waits (bounded) for KV puts under way; later `publish` calls are ignored. Idempotent. */
  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async doClose(): Promise<void> {
    clearInterval(this.refreshTimer);
    this.held.clear();
    const running = [...this.slots.values()].map((slot) => slot.done);
    if (running.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(running),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.closeTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Writes the state of every lease still held again, so the bucket does not expire it. */
  private refresh(): void {
    if (this.closed || !this.link.connection()) return;
    for (const [key, entry] of this.held) this.enqueuePut(key, entry);
  }

  private enqueuePut(key: string, entry: NonNullable<KeySlot['pending']>): void {
    const slot = this.slots.get(key);
    if (slot) {
      // A put for this key is under way: only the newest snapshot is worth writing after it.
      slot.pending = entry;
      return;
    }
    const created: { pending: KeySlot['pending']; done: Promise<void> } = { pending: entry, done: Promise.resolve() };
    this.slots.set(key, created);
    created.done = this.drain(key, created);
  }

  /** Writes the slot's pending snapshots one after the other, so a key never goes back in time. */
  private async drain(key: string, slot: KeySlot): Promise<void> {
    // Let publish() return before any work starts.
    await Promise.resolve();
    try {
      while (slot.pending) {
        const { payload, leaseKey } = slot.pending;
        slot.pending = undefined;
        const connection = this.link.connection();
        if (!connection) {
          this.logger.debug({ leaseKey }, 'nats disconnected, lease state not stored');
          continue;
        }
        try {
          const kv = await this.openBucket(connection);
          if (payload === undefined) {
            await kv.purge(key);
            await this.clearOldMarkers(kv);
          } else {
            await kv.put(key, payload);
          }
        } catch (err) {
          this.kvFailed(err, leaseKey);
        }
      }
    } finally {
      this.slots.delete(key);
    }
  }

  private async clearOldMarkers(kv: KV): Promise<void> {
    const now = Date.now();
    if (now - this.markersClearedAt < CLEAR_MARKERS_INTERVAL_MS) return;
    this.markersClearedAt = now;
    // Part of the bucket's implementation, not of the KV interface it is typed as.
    const bucket = kv as KV & { purgeDeletes?: (olderMillis?: number) => Promise<unknown> };
    await bucket.purgeDeletes?.(MARKER_AGE_MS);
  }

  /** KV failures repeat for every transition while they last (no JetStream, storage full...). */
  private kvFailed(err: unknown, leaseKey: string): void {
    if (this.link.connection() === undefined) {
      this.logger.debug({ err, leaseKey }, 'nats disconnected, lease state not stored');
      return;
    }
    const now = Date.now();
    if (now - this.lastKvWarnAt < KV_WARN_INTERVAL_MS) {
      this.suppressedKvWarnings += 1;
      this.logger.debug({ err, leaseKey }, 'lease state not stored in the kv bucket');
      return;
    }
    const suppressed = this.suppressedKvWarnings;
    this.lastKvWarnAt = now;
    this.suppressedKvWarnings = 0;
    this.logger.warn({ err, leaseKey, bucket: leaseStateBucket(this.application), suppressed }, 'lease state not stored in the kv bucket');
  }

  private openBucket(connection: NatsConnection): Promise<KV> {
    if (this.bucket?.connection !== connection) {
      const kv = openLeaseStateBucket(connection, this.application);
      const bucket = { connection, kv };
      this.bucket = bucket;
      // A failed open is retried with the next put rather than remembered.
      kv.catch(() => {
        if (this.bucket === bucket) this.bucket = undefined;
      });
    }
    return this.bucket.kv;
  }
}
