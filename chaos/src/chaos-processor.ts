import { setTimeout as sleep } from 'node:timers/promises';
import { LeaseLostError, isShoalError, type HeldLease, type ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import type { BatchOutcome, CheckpointLine, LifecycleEvent } from './log-lines.js';
import { decodePayload } from './record-payload.js';
import type { SharedLog } from './shared-log.js';

export interface ChaosProcessorOptions {
  readonly workerId: string;
  readonly log: SharedLog;
  /**
   * Simulated work: the processor awaits this long (honouring the lease's signal) before every
   * `recordsPerPause` records, so that a batch is in flight a good part of the time and a pause
   * or a kill often lands in the middle of one. Default 20.
   */
  readonly pauseMs?: number;
  /** Default 5. */
  readonly recordsPerPause?: number;
  /**
   * After a batch's side effects and before its checkpoint, the processor waits this long without
   * the signal, as for a sink's acknowledgement (well within abortGraceMs). A pause that lands
   * there makes the worker send its checkpoint after the next owner started: the runtime must
   * refuse it. Default 20.
   */
  readonly flushMs?: number;
}

/**
 * The processor every chaos worker runs. It does what the docs tell users to do: before each
 * record's side effect it checks `lease.isValid()` and throws `LeaseLostError` when the lease's
 * time is up, and it honours `signal` in its (simulated) work. The side effect is one line in the
 * shared log. It also logs each batch, each checkpoint attempt and result, and every other callback.
 *
 * A checkpoint that fails for a reason that may pass (a timeout, throttling) is not retried here:
 * the next batch's checkpoint covers it, as most KCL processors do. `LeaseLostError` and errors
 * that will not pass are thrown, so the runtime ends or redelivers.
 */
export function chaosProcessorFactory(options: ChaosProcessorOptions): ShardRecordProcessorFactory {
  const { workerId: worker, log } = options;
  const pauseMs = options.pauseMs ?? 20;
  const recordsPerPause = options.recordsPerPause ?? 5;
  const flushMs = options.flushMs ?? 20;
  let batches = 0;
  let checkpoints = 0;

  const lifecycle = (shard: string, lease: HeldLease, event: LifecycleEvent, detail?: string) =>
    log.write({ t: 'life', worker, shard, epoch: lease.leaseCounter, event, at: Date.now(), ...(detail === undefined ? {} : { detail }) });

  /** Logs the attempt, calls the checkpointer, logs the result; rethrows what must not be swallowed. */
  const checkpoint = async (shard: string, lease: HeldLease, seq: string, call: () => Promise<void>): Promise<void> => {
    checkpoints += 1;
    const base: Omit<CheckpointLine, 'phase' | 'at'> = {
      t: 'cp',
      worker,
      shard,
      epoch: lease.leaseCounter,
      id: `${worker}#${checkpoints}`,
      seq,
    };
    log.write({ ...base, phase: 'attempt', at: Date.now() });
    try {
      await call();
      log.write({ ...base, phase: 'applied', at: Date.now() });
    } catch (error) {
      const refused = error instanceof LeaseLostError;
      log.write({ ...base, phase: refused ? 'refused' : 'failed', at: Date.now(), error: describe(error) });
      if (refused || !isRetryable(error)) throw error;
    }
  };

  return ({ shardId: shard }) => {
    /** The last record whose batch finished here: what a bare checkpoint() in shutdownRequested writes. */
    let lastProcessed: string | undefined;
    return {
      initialize({ lease, checkpoint: from }) {
        lifecycle(shard, lease, 'initialize', from.type === 'SEQUENCE' ? from.position.sequenceNumber : from.type);
      },

      async processRecords({ records, checkpointer, lease, signal }) {
        batches += 1;
        const batch = batches;
        const start = Date.now();
        let done = 0;
        let outcome: BatchOutcome = 'ok';
        try {
          for (const [index, record] of records.entries()) {
            if (index % recordsPerPause === 0) await sleep(pauseMs, undefined, { signal });
            if (!lease.isValid())
              throw new LeaseLostError(`lease ${lease.leaseKey} (epoch ${lease.leaseCounter}) expired before a side effect`);
            const { key, n } = decodePayload(record.data);
            log.write({ t: 'rec', worker, shard, epoch: lease.leaseCounter, batch, key, n, seq: record.sequenceNumber, at: Date.now() });
            done += 1;
          }
        } catch (error) {
          outcome = error instanceof LeaseLostError ? 'lease-invalid' : signal.aborted ? 'aborted' : 'error';
          throw error;
        } finally {
          log.write({
            t: 'batch',
            worker,
            shard,
            epoch: lease.leaseCounter,
            batch,
            first: records[0]!.sequenceNumber,
            last: records[records.length - 1]!.sequenceNumber,
            count: records.length,
            done,
            start,
            end: Date.now(),
            outcome,
          });
        }
        const last = records[records.length - 1]!.sequenceNumber;
        lastProcessed = last;
        await sleep(flushMs);
        // Deliberately not checked against lease.isValid(): the runtime must refuse a stale checkpoint itself.
        await checkpoint(shard, lease, last, () => checkpointer.checkpoint());
      },

      async shardEnded({ checkpointer, lease }) {
        lifecycle(shard, lease, 'shardEnded');
        await checkpoint(shard, lease, 'SHARD_END', () => checkpointer.checkpoint());
      },

      async shutdownRequested({ checkpointer, lease, reason }) {
        lifecycle(shard, lease, 'shutdownRequested', reason);
        if (lastProcessed !== undefined) await checkpoint(shard, lease, lastProcessed, () => checkpointer.checkpoint());
      },

      leaseLost({ lease }) {
        lifecycle(shard, lease, 'leaseLost');
      },
    };
  };
}

function isRetryable(error: unknown): boolean {
  if (isShoalError(error)) return error.retryable;
  // AWS SDK errors that were not wrapped: throttling and timeouts pass.
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'ProvisionedThroughputExceededException' || name === 'ThrottlingException' || name === 'TimeoutError';
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 300);
  return String(error).slice(0, 300);
}
