import { hasLetGo, type ShardObserver, type WorkerObserver } from './worker-observer.js';

/**
 * How far behind its tip each shard this worker runs was at its last batch, for the load it
 * reports (the leader derives the application's maximum lag from those reports).
 */
export class ShardLags implements WorkerObserver {
  private readonly lags = new Map<string, { readonly streamName: string; readonly shardId: string; lagMs: number }>();

  /** Each shard this worker runs with its lag at its last batch. */
  entries(): { readonly streamName: string; readonly shardId: string; readonly lagMs: number }[] {
    return [...this.lags.values()].map((entry) => ({ ...entry }));
  }

  /** The largest lag among the shards this worker runs; undefined before any batch. */
  max(): number | undefined {
    let max: number | undefined;
    for (const { lagMs } of this.lags.values()) max = max === undefined ? lagMs : Math.max(max, lagMs);
    return max;
  }

  shard(stream: string, shard: string): ShardObserver {
    const key = `${stream}/${shard}`;
    return {
      batchProcessed: (_records, _bytes, _seconds, lagMs) => void this.lags.set(key, { streamName: stream, shardId: shard, lagMs }),
      processorFailed: () => {},
      checkpoint: () => {},
      getRecords: () => {},
    };
  }

  leaseTransition(stream: string, shard: string, state: string): void {
    if (hasLetGo(state)) this.lags.delete(`${stream}/${shard}`);
  }
}

/** One observer that tells each of `observers` everything. */
export function allOf(...observers: readonly WorkerObserver[]): WorkerObserver {
  return {
    shard(stream, shard) {
      const each = observers.map((observer) => observer.shard(stream, shard));
      return {
        batchProcessed: (...args) => each.forEach((observer) => observer.batchProcessed(...args)),
        processorFailed: () => each.forEach((observer) => observer.processorFailed()),
        checkpoint: (outcome) => each.forEach((observer) => observer.checkpoint(outcome)),
        getRecords: (outcome) => each.forEach((observer) => observer.getRecords(outcome)),
        recordsProcessed: (records) => each.forEach((observer) => observer.recordsProcessed?.(records)),
      };
    },
    leaseTransition: (stream, shard, state) => observers.forEach((observer) => observer.leaseTransition(stream, shard, state)),
  };
}
