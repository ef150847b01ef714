import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import type { Logger } from '../logger.js';
import type { NatsLink } from '../nats/connect-nats.js';
import type { LeaseStatePublisher, LeaseStateSnapshot } from './lease-state.js';

/**
 * Subject of one shard's lease transitions, `shoal.<app>.lease.<shardId>`; without a shard, the
 * wildcard `shoal.<app>.lease.*` that observers subscribe to. Names are sanitized to subject tokens.
 */
export function leaseStateSubject(application: string, shardId?: string): string {
  return `shoal.${subjectToken(application)}.lease.${shardId === undefined ? '*' : subjectToken(shardId)}`;
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

/** Opens the application's lease-state bucket, creating it (history 1) when missing. */
export function openLeaseStateBucket(connection: NatsConnection, application: string): Promise<KV> {
  return new Kvm(connection).create(leaseStateBucket(application), {
    history: 1,
    description: `Shoal: latest lease machine state of application ${application}`,
  });
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

  static create(options: NatsLeaseStatePublisherOptions): NatsLeaseStatePublisher {
    return new NatsLeaseStatePublisher(options);
  }

  constructor(options: NatsLeaseStatePublisherOptions) {
    this.link = options.link;
    this.application = options.application;
    this.logger = options.logger;
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  }

  publish(snapshot: LeaseStateSnapshot): void {
    if (this.closed) return;
    const { leaseKey } = snapshot;
    const connection = this.link.connection();
    if (!connection) {
      this.logger.debug({ leaseKey, state: snapshot.state }, 'nats disconnected, lease state not published');
      return;
    }
    let payload: string;
    try {
      payload = JSON.stringify(snapshot);
      connection.publish(leaseStateSubject(this.application, snapshot.shardId), payload);
    } catch (err) {
      this.logger.warn({ err, leaseKey }, 'lease state publish failed');
      return;
    }
    this.enqueuePut(leaseStateKey(snapshot.streamName, leaseKey), { payload, leaseKey });
  }

  /** Purges the lease's entry from the bucket (after any write of it still under way). */
  forget(streamName: string, leaseKey: string): void {
    if (this.closed) return;
    this.enqueuePut(leaseStateKey(streamName, leaseKey), { payload: undefined, leaseKey });
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
