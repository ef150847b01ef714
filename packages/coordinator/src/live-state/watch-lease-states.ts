import type { NatsConnection } from '@nats-io/transport-node';
import type { KvWatchEntry } from '@nats-io/kv';
import type { Logger } from '../logger.js';
import type { NatsLink } from '../nats/connect-nats.js';
import type { LeaseStateSnapshot } from './lease-state.js';
import { leaseStateBucket, openLeaseStateBucket } from './nats-lease-state-publisher.js';

/** One change seen in the lease-state bucket. `initial` marks the values present when the watch opened. */
export type LeaseStateUpdate =
  | {
      readonly type: 'state';
      /** The bucket key, see `leaseStateKey`. */
      readonly key: string;
      readonly revision: number;
      readonly initial: boolean;
      readonly snapshot: LeaseStateSnapshot;
    }
  | {
      /** The lease's entry was deleted or purged from the bucket. */
      readonly type: 'deleted';
      readonly key: string;
      readonly revision: number;
      readonly initial: boolean;
    };

export interface WatchLeaseStatesOptions {
  /** A link (waited for up to `connectTimeoutMs`) or a connection the caller manages. */
  readonly link?: NatsLink;
  readonly connection?: NatsConnection;
  readonly application: string;
  /** Called for each entry, in bucket order. A throwing callback is logged, the watch goes on. */
  readonly onUpdate: (update: LeaseStateUpdate) => void;
  readonly logger: Logger;
  /** With `link`: how long to wait for it to connect. Default 5000. */
  readonly connectTimeoutMs?: number;
}

export interface LeaseStateWatch {
  /** Stops the watch; resolves once no more updates will be delivered. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Watches the application's lease-state bucket: first the latest state of every lease, then
 * every change, each parsed into a {@link LeaseStateSnapshot}. Entries that are not a snapshot
 * are logged and skipped. Rejects when NATS cannot be reached or the bucket cannot be opened.
 *
 * @example
 * ```ts
 * const watch = await watchLeaseStates({ link, application: 'orders', logger, onUpdate: (u) => render(u) });
 * await watch.stop();
 * ```
 */
export async function watchLeaseStates(options: WatchLeaseStatesOptions): Promise<LeaseStateWatch> {
  const { application, onUpdate, logger } = options;
  const connection = await resolveConnection(options);
  const bucket = leaseStateBucket(application);
  const kv = await openLeaseStateBucket(connection, application);
  const entries = await kv.watch({ key: '>' });
  let stopping = false;

  const loop = (async () => {
    try {
      for await (const entry of entries) {
        const update = toUpdate(entry, logger, bucket);
        if (!update) continue;
        try {
          onUpdate(update);
        } catch (err) {
          logger.error({ err, key: entry.key }, 'lease state watcher callback threw');
        }
      }
      if (!stopping) logger.warn({ bucket }, 'lease state watch ended (connection closed)');
    } catch (err) {
      logger.warn({ err, bucket }, 'lease state watch failed');
    }
  })();

  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping = true;
        entries.stop();
        await loop;
      })();
      return stopped;
    },
  };
}

async function resolveConnection(options: WatchLeaseStatesOptions): Promise<NatsConnection> {
  if (options.connection) return options.connection;
  if (!options.link) throw new TypeError('watchLeaseStates: pass a link or a connection');
  const timeoutMs = options.connectTimeoutMs ?? 5_000;
  const connection = (await options.link.ready(timeoutMs)) ? options.link.connection() : undefined;
  if (!connection) throw new Error(`watchLeaseStates: nats not connected within ${timeoutMs} ms`);
  return connection;
}

function toUpdate(entry: KvWatchEntry, logger: Logger, bucket: string): LeaseStateUpdate | undefined {
  const base = { key: entry.key, revision: entry.revision, initial: !entry.isUpdate };
  if (entry.operation === 'DEL' || entry.operation === 'PURGE') return { type: 'deleted', ...base };
  let value: unknown;
  try {
    value = entry.json<unknown>();
  } catch (err) {
    logger.warn({ err, bucket, key: entry.key, revision: entry.revision }, 'lease state entry is not json, ignored');
    return undefined;
  }
  const snapshot = parseLeaseStateSnapshot(value);
  if (!snapshot) {
    logger.warn({ bucket, key: entry.key, revision: entry.revision }, 'lease state entry is not a lease snapshot, ignored');
    return undefined;
  }
  return { type: 'state', ...base, snapshot };
}

const REQUIRED_STRINGS = ['application', 'streamName', 'leaseKey', 'shardId', 'workerId', 'state'] as const;
const OPTIONAL_STRINGS = ['reason', 'checkpoint'] as const;
/** Longer than any name, state, reason or checkpoint a worker writes; a longer one is not a snapshot. */
const MAX_STRING_LENGTH = 1_024;

/** Returns the value as a snapshot when it has the snapshot's fields with the right types. */
export function parseLeaseStateSnapshot(value: unknown): LeaseStateSnapshot | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const isShortString = (value: unknown) => typeof value === 'string' && value.length <= MAX_STRING_LENGTH;
  for (const field of REQUIRED_STRINGS) if (!isShortString(record[field])) return undefined;
  for (const field of OPTIONAL_STRINGS) {
    if (record[field] !== undefined && !isShortString(record[field])) return undefined;
  }
  if (typeof record['at'] !== 'number' || !Number.isFinite(record['at'])) return undefined;
  const counter = record['leaseCounter'];
  if (counter !== undefined && (typeof counter !== 'number' || !Number.isFinite(counter))) return undefined;
  return record as unknown as LeaseStateSnapshot;
}
