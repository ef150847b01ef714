import type { LeaseStore, Logger, WorkerRecord } from '@shoal/coordinator';
import { instantOf, type Clock } from '../../clock.js';
import type { SelfFence } from './self-fence.js';
import type { WorkerLiveness } from './worker-liveness.js';

export interface TableHeartbeatOptions {
  readonly store: LeaseStore;
  readonly namespace: string;
  readonly workerId: string;
  readonly liveness: WorkerLiveness;
  readonly intervalMs: number;
  readonly fence: SelfFence;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Others removed this worker's record (they judged it dead): drop every lease and register again. */
  readonly onRecordRemoved: () => Promise<void>;
  /** The record as each heartbeat wrote it (an operator may have marked it leaving). */
  readonly onRecord?: (record: WorkerRecord) => void;
}

/**
 * Liveness by the lease table: while in `table` mode, one conditional write per interval proves
 * this worker alive for all its leases. In `nats` mode there is nothing to write: leader grants
 * keep the worker alive.
 */
export class TableHeartbeat {
  constructor(private readonly options: TableHeartbeatOptions) {}

  /**
   * Heartbeats on a fixed schedule measured from each start (not from each end, which would
   * drift towards the self-fence point), and retries a failed one after a fifth of an interval.
   * Loops until `signal` aborts.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, liveness, intervalMs } = this.options;
    let nextAt = clock.monotonic() + intervalMs;
    while (!signal.aborted) {
      await clock.sleep(Math.max(0, nextAt - clock.monotonic()), signal).catch(() => undefined);
      if (signal.aborted) return;
      const startedAt = clock.monotonic();
      const succeeded = liveness.mode === 'nats' || (await this.beat());
      nextAt = succeeded ? startedAt + intervalMs : clock.monotonic() + intervalMs / 5;
    }
  }

  private async beat(): Promise<boolean> {
    const { store, namespace, workerId, liveness, clock, logger, fence } = this.options;
    let succeeded = false;
    const startedAt = instantOf(clock);
    try {
      const result = await store.heartbeatWorker(namespace, workerId);
      if (result.status === 'applied') {
        liveness.confirm(startedAt);
        this.options.onRecord?.(result.value);
        succeeded = true;
      } else {
        logger.warn('worker record was removed by another worker; dropping all leases and registering again');
        await this.options.onRecordRemoved();
      }
    } catch (error) {
      logger.warn({ err: error }, 'heartbeat failed');
    }
    if (liveness.tableLivenessExpired()) fence.report();
    else fence.reset();
    return succeeded;
  }
}
