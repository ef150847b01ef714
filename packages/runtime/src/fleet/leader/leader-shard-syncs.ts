import type { Logger } from '@shoal/coordinator';
import type { Clock } from '../../clock.js';
import type { ShardRef } from '../../streams/consumed-streams.js';
import { TokenBucket } from '../token-bucket.js';

/** Shard syncs that `shard-ended` events may cause: a burst of 10, then 2 a second (anyone on NATS can send them). */
const PROMPTED_BURST = 10;
const PROMPTED_PER_SECOND = 2;
const ATTEMPTS = 3;

export interface LeaderShardSyncsOptions {
  /** The shard sync (`after`: a shard that ended; only newer shards of its stream are listed); resolves to the leases created. */
  readonly syncShards: (after?: ShardRef) => Promise<number>;
  readonly isLeading: () => boolean;
  /** Plans again once new leases exist (the leader's own, budgeted refresh). */
  readonly replan: () => void;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The leader's shard syncs beyond the periodic one: at election, and when a worker reports a
 * shard ended, so the children's leases exist at once. A report is an unsigned prompt, acted
 * on within a budget; a failed sync (a throttled ListShards, a slow DynamoDB) is tried again
 * twice, 1 and 2 s later, before it is left to the periodic shard sync.
 */
export class LeaderShardSyncs {
  private readonly prompted: TokenBucket;

  constructor(private readonly options: LeaderShardSyncsOptions) {
    this.prompted = new TokenBucket(PROMPTED_BURST, PROMPTED_PER_SECOND, options.clock.monotonic);
  }

  /** Another worker says `shard` ended. */
  shardEnded(shard: ShardRef): void {
    if (this.options.isLeading() && this.prompted.tryTake()) void this.sync(shard);
  }

  /**
   * Syncs now (after `shard`, if given), then plans if leases may be new: it created some, or a
   * shard ended (a worker that cannot reach the leader creates its children itself). Retried on
   * failure.
   */
  async sync(shard?: ShardRef): Promise<void> {
    const { isLeading, signal, clock, logger } = this.options;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      if (!isLeading() || signal.aborted) return;
      try {
        const created = await this.options.syncShards(shard);
        if (created > 0 || shard !== undefined) this.options.replan();
        return;
      } catch (error) {
        const last = attempt === ATTEMPTS;
        logger.warn(
          { err: error, ...shard },
          last ? 'leader could not sync shards; the periodic shard sync will' : 'leader could not sync shards; trying again',
        );
        if (!last) await clock.sleep(1_000 * attempt, signal).catch(() => undefined);
      }
    }
  }
}
