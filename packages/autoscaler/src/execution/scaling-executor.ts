import { DescribeStreamSummaryCommand, UpdateShardCountCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, mergeShards, splitShard, type Logger, type ShardInfo } from '@shoal/coordinator';
import type { HotShardPlan } from '../hot-shard-planner.js';
import type { ScalingPlan } from '../scaling-planner.js';
import type { ScalingEvent, ScalingHistory } from './scaling-history.js';

export interface ScalingExecutorOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly history: ScalingHistory;
  /** Record and log what would be done, and change nothing. */
  readonly dryRun?: boolean;
  /** How long a step may take to leave the stream ACTIVE again. Default 300000 ms. */
  readonly activeTimeoutMs?: number;
  readonly pollIntervalMs?: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** A step did not finish: the stream stayed UPDATING, or Kinesis refused it. */
export class ScalingStepError extends Error {
  override readonly name = 'ScalingStepError';
}

/** Kinesis accepted the change, and the stream was not ACTIVE again in time: it counts as a call and a change. */
class AcceptedButNotActive extends ScalingStepError {}

/** Errors with which Kinesis refuses a change outright (it is not made, and not counted as a call). */
const REFUSALS = new Set(['ResourceInUseException', 'LimitExceededException', 'InvalidArgumentException', 'ValidationException']);

/**
 * Applies plans to a stream, one step at a time, waiting for the stream to be ACTIVE after each:
 * a uniform plan with UpdateShardCount (or, where the server has no UpdateShardCount, as on
 * kinesalite, with splits of the widest shards at their midpoints and merges of the narrowest
 * adjacent pairs), a hot-shard plan with SplitShard and MergeShards. Every step is logged and
 * recorded in the history, refused ones too; a dry run records what it would do.
 */
export class ScalingExecutor {
  private readonly now: () => number;

  constructor(private readonly options: ScalingExecutorOptions) {
    this.now = options.now ?? Date.now;
  }

  /** `shouldContinue` is asked before each step (a leader that was deposed stops between steps). */
  async resize(plan: ScalingPlan, signal?: AbortSignal, shouldContinue: () => boolean = () => true): Promise<void> {
    let from = plan.from;
    for (const to of plan.steps) {
      signal?.throwIfAborted();
      if (!shouldContinue()) return;
      await this.step({ kind: 'update-shard-count', from, to, reasons: plan.reasons }, () => this.updateShardCount(to, signal));
      from = to;
    }
  }

  async reshard(plan: HotShardPlan, signal?: AbortSignal, shouldContinue: () => boolean = () => true): Promise<void> {
    const { kinesis, streamName } = this.options;
    for (const split of plan.splits) {
      signal?.throwIfAborted();
      if (!shouldContinue()) return;
      await this.step({ kind: 'split', shardId: split.shardId, newStartingHashKey: split.newStartingHashKey, reasons: split.reasons }, () =>
        splitShard(kinesis, streamName, split.shardId, { newStartingHashKey: split.newStartingHashKey, ...this.waits(signal) }).then(
          () => undefined,
        ),
      );
    }
    for (const merge of plan.merges) {
      signal?.throwIfAborted();
      if (!shouldContinue()) return;
      await this.step({ kind: 'merge', shardId: merge.shardId, adjacentShardId: merge.adjacentShardId, reasons: merge.reasons }, () =>
        mergeShards(kinesis, streamName, merge.shardId, merge.adjacentShardId, this.waits(signal)).then(() => undefined),
      );
    }
  }

  private async step(event: Omit<ScalingEvent, 'at' | 'streamName' | 'dryRun' | 'outcome'>, apply: () => Promise<void>): Promise<void> {
    const { streamName, history, logger, dryRun = false } = this.options;
    const base = { ...event, at: this.now(), streamName, dryRun };
    if (dryRun) {
      logger.info(base, 'autoscale (dry run): would change the stream');
      await history.record({ ...base, outcome: 'dry-run' });
      return;
    }
    logger.info(base, 'autoscale: changing the stream');
    try {
      await apply();
    } catch (error) {
      const outcome =
        error instanceof AcceptedButNotActive ? 'pending' : error instanceof Error && REFUSALS.has(error.name) ? 'refused' : 'failed';
      await history.record({ ...base, outcome, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      logger.error({ ...base, outcome, err: error }, 'autoscale: the change did not complete');
      throw error;
    }
    await history.record({ ...base, outcome: 'applied' });
  }

  private async updateShardCount(to: number, signal?: AbortSignal): Promise<void> {
    const { kinesis, streamName } = this.options;
    try {
      await kinesis.send(new UpdateShardCountCommand({ StreamName: streamName, TargetShardCount: to, ScalingType: 'UNIFORM_SCALING' }), {
        abortSignal: signal,
      });
    } catch (error) {
      if (!(error instanceof Error && error.name === 'UnknownOperationException')) throw error;
      this.options.logger.info({ streamName, to }, 'the server has no UpdateShardCount: resizing with splits and merges');
      await this.resizeBySplitsAndMerges(to, signal);
      return;
    }
    try {
      await this.untilActive(signal);
    } catch (error) {
      throw new AcceptedButNotActive(`${streamName}: UpdateShardCount to ${to} was accepted; ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Splits the widest open shard at its midpoint, or merges the narrowest adjacent pair, until `to` shards are open. */
  private async resizeBySplitsAndMerges(to: number, signal?: AbortSignal): Promise<void> {
    const { kinesis, streamName } = this.options;
    for (let guard = 0; guard < 4 * to + 64; guard += 1) {
      const open = openShards(await listShards(kinesis, streamName, signal ? { signal } : {}));
      if (open.length === to) return;
      if (open.length < to) {
        const widest = open.reduce((best, shard) => (width(shard) > width(best) ? shard : best));
        await splitShard(kinesis, streamName, widest.shardId, this.waits(signal));
      } else {
        const pairs = adjacentPairs(open);
        if (pairs.length === 0) throw new ScalingStepError(`no adjacent open shards to merge in ${streamName}`);
        const [low, high] = pairs.reduce((best, pair) => (width(pair[0]) + width(pair[1]) < width(best[0]) + width(best[1]) ? pair : best));
        await mergeShards(kinesis, streamName, low.shardId, high.shardId, this.waits(signal));
      }
    }
    throw new ScalingStepError(`could not bring ${streamName} to ${to} open shards`);
  }

  private async untilActive(signal?: AbortSignal): Promise<void> {
    const { kinesis, streamName, activeTimeoutMs = 300_000, pollIntervalMs = 500 } = this.options;
    const deadline = this.now() + activeTimeoutMs;
    for (;;) {
      const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }), {
        abortSignal: signal,
      });
      if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
      if (this.now() > deadline)
        throw new ScalingStepError(`${streamName} was still ${StreamDescriptionSummary?.StreamStatus} after ${activeTimeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
    }
  }

  private waits(signal?: AbortSignal) {
    return {
      ...(signal ? { signal } : {}),
      pollIntervalMs: this.options.pollIntervalMs ?? 500,
      timeoutMs: this.options.activeTimeoutMs ?? 300_000,
    };
  }
}

export function openShards(shards: readonly ShardInfo[]): ShardInfo[] {
  return shards.filter((shard) => shard.endingSequenceNumber === undefined);
}

function width(shard: ShardInfo): bigint {
  return BigInt(shard.hashKeyRange.endingHashKey) - BigInt(shard.hashKeyRange.startingHashKey);
}

function adjacentPairs(open: readonly ShardInfo[]): [ShardInfo, ShardInfo][] {
  const sorted = [...open].sort((a, b) => (BigInt(a.hashKeyRange.startingHashKey) < BigInt(b.hashKeyRange.startingHashKey) ? -1 : 1));
  const pairs: [ShardInfo, ShardInfo][] = [];
  for (let index = 0; index + 1 < sorted.length; index += 1) {
    if (BigInt(sorted[index]!.hashKeyRange.endingHashKey) + 1n === BigInt(sorted[index + 1]!.hashKeyRange.startingHashKey)) {
      pairs.push([sorted[index]!, sorted[index + 1]!]);
    }
  }
  return pairs;
}
