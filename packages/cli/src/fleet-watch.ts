import { openLeaseStateBucket, watchLeaseStates, type LeaseStateSnapshot, type LeaseStateUpdate, type Logger } from '@shoal/coordinator';
import type { FleetState } from './fleet-table.js';

/** The NATS client's connection type, as the coordinator takes it (the CLI does not depend on the client). */
type NatsConnection = Parameters<typeof openLeaseStateBucket>[0];

export interface FleetWatchOptions {
  readonly connection: NatsConnection;
  readonly application: string;
  readonly logger: Logger;
  /** Called after each change, once the watch has caught up; never during the initial replay. */
  readonly onChange: () => void;
  /** See {@link CATCH_UP_IDLE_MS}. */
  readonly catchUpIdleMs?: number;
}

export interface FleetWatch {
  /** The latest snapshot per bucket key; deleted leases are removed. */
  readonly states: FleetState;
  /** Resolves once every entry present when the watch opened has been applied. */
  readonly caughtUp: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Quiet time after which the replay counts as complete even though the bucket's last entry was
 * not seen: `watchLeaseStates` skips entries that are not lease snapshots, and that one may be last.
 */
export const CATCH_UP_IDLE_MS = 1_000;

/**
 * Keeps the application's fleet state from its lease-state bucket. The replay is complete when
 * an entry at or past the bucket's last sequence (read before the watch opened) arrives, as
 * every entry up to it is delivered before it.
 */
export async function openFleetWatch(options: FleetWatchOptions): Promise<FleetWatch> {
  const { connection, application, logger, onChange } = options;
  const catchUpIdleMs = options.catchUpIdleMs ?? CATCH_UP_IDLE_MS;
  const bucket = await openLeaseStateBucket(connection, application);
  const { messages, last_seq: lastSeq } = (await bucket.status()).streamInfo.state;

  const states = new Map<string, LeaseStateSnapshot>();
  let isCaughtUp = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let resolveCaughtUp!: () => void;
  const caughtUp = new Promise<void>((resolve) => {
    resolveCaughtUp = resolve;
  });
  const markCaughtUp = (): void => {
    clearTimeout(idleTimer);
    isCaughtUp = true;
    resolveCaughtUp();
  };
  const armIdleTimer = (): void => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(markCaughtUp, catchUpIdleMs);
  };

  const onUpdate = (update: LeaseStateUpdate): void => {
    if (update.type === 'state') states.set(update.key, update.snapshot);
    else states.delete(update.key);
    if (isCaughtUp) onChange();
    else if (update.revision >= lastSeq) markCaughtUp();
    else armIdleTimer();
  };
  const watch = await watchLeaseStates({ connection, application, logger, onUpdate });
  if (messages === 0) markCaughtUp();
  else if (!isCaughtUp) armIdleTimer();

  return {
    states,
    caughtUp,
    async stop() {
      clearTimeout(idleTimer);
      await watch.stop();
    },
  };
}
