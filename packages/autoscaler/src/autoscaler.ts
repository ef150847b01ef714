import { DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, type Logger } from '@shoal/coordinator';
import { openShards, ScalingExecutor } from './execution/scaling-executor.js';
import { ACCEPTED_OUTCOMES, type ScalingHistory, type StreamHold } from './execution/scaling-history.js';
import { planHotShards, type HotShardPlan, type ShardLoad } from './hot-shard-planner.js';
import { planScaling, type ScalingPlan } from './scaling-planner.js';
import type { ScalingRules } from './scaling-rules.js';
import { MINUTE_MS, minuteOf, streamMinutes, type ShardTrafficMinute, type TrafficSource } from './traffic/shard-traffic.js';

/** `uniform`: UpdateShardCount to a planned count; `hot-shards`: split hot shards at their traffic median, merge cold pairs. */
export type ScalingStrategy = 'uniform' | 'hot-shards';

export interface AutoscalerOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly traffic: TrafficSource;
  readonly history: ScalingHistory;
  readonly rules: ScalingRules;
  readonly strategy?: ScalingStrategy;
  /** The traffic window the source keeps (a minute unless tests say otherwise). */
  readonly windowMs?: number;
  /** How often to plan. Default 60000 ms. */
  readonly intervalMs?: number;
  readonly dryRun?: boolean;
  /** Holds the stream for this autoscaler alone during a cycle (e.g. `RedisScalingHistory.hold`); none: no other runs. */
  readonly hold?: (streamName: string, ttlMs: number) => Promise<StreamHold | undefined>;
  readonly logger: Logger;
  readonly now?: () => number;
}

export type AutoscaleDecision =
  | { readonly strategy: 'uniform'; readonly openShards: number; readonly plan: ScalingPlan }
  | { readonly strategy: 'hot-shards'; readonly openShards: number; readonly plan: HotShardPlan };

const DAY_MS = 86_400_000;
/** How long a cycle's hold on the stream lasts unless renewed. */
const HOLD_MS = 30_000;

/**
 * Plans and applies a stream's shard count from its measured traffic, every `intervalMs`: reads
 * the open shards from the shard list (never guessed from traffic), the last whole windows of
 * traffic, and the calls of the last 24 hours from the history (shared by every autoscaler of the
 * stream), then applies the plan with the executor. One cycle at a time.
 */
export class Autoscaler {
  private readonly executor: ScalingExecutor;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private readonly controller = new AbortController();

  constructor(private readonly options: AutoscalerOptions) {
    this.now = options.now ?? Date.now;
    this.executor = new ScalingExecutor({
      kinesis: options.kinesis,
      streamName: options.streamName,
      history: options.history,
      dryRun: options.dryRun ?? false,
      logger: options.logger,
      now: this.now,
    });
  }

  /**
   * Plans once and applies the plan; resolves what was decided. `shouldContinue` is asked before
   * each step (a leader that lost its term stops between steps).
   */
  async runOnce(shouldContinue: () => boolean = () => true): Promise<AutoscaleDecision> {
    const { streamName, hold } = this.options;
    const strategy = this.options.strategy ?? 'uniform';
    const held = hold ? await hold(streamName, HOLD_MS) : undefined;
    if (hold && !held) return this.holding(strategy, 'another autoscaler is planning this stream now');
    // Renewed while the cycle runs (a step may wait minutes for ACTIVE); lost, the cycle stops between steps.
    let holding = true;
    const renewal = held ? setInterval(() => void held.renew().then((kept) => (holding &&= kept)), HOLD_MS / 3) : undefined;
    try {
      return await this.plan(strategy, () => holding && shouldContinue());
    } finally {
      clearInterval(renewal);
      await held?.release().catch(() => undefined);
    }
  }

  private async plan(strategy: ScalingStrategy, shouldContinue: () => boolean): Promise<AutoscaleDecision> {
    const { kinesis, streamName, traffic, history, rules, logger } = this.options;
    const windowMs = this.options.windowMs ?? MINUTE_MS;
    const signal = this.controller.signal;
    const now = this.now();
    const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }), {
      abortSignal: signal,
    });
    if (StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') {
      return this.holding(
        strategy,
        `the stream is ${StreamDescriptionSummary?.StreamStatus ?? 'not described'}, not ACTIVE: a change may still be under way`,
      );
    }
    const open = openShards(await listShards(kinesis, streamName, { signal }));
    const windows = Math.max(rules.upSustainMinutes, rules.downSustainMinutes);
    const to = minuteOf(now, windowMs);
    const from = to - windows * windowMs;
    const shardMinutes = await traffic.shardMinutes(streamName, from, to);
    if (strategy === 'hot-shards') {
      const splitParents = new Set(
        (await history.recent(streamName, now - DAY_MS))
          .filter((event) => event.kind === 'split' && ACCEPTED_OUTCOMES.has(event.outcome) && event.shardId !== undefined)
          .map((event) => event.shardId!),
      );
      const recentlySplit = new Set(
        open.filter((shard) => shard.parentShardIds.some((parent) => splitParents.has(parent))).map((shard) => shard.shardId),
      );
      const loads = open.map((shard) => loadOf(shard, shardMinutes, from, to, windowMs));
      const plan = planHotShards(loads, rules, { recentlySplit });
      logger.info({ streamName, openShards: open.length, ...plan }, 'autoscale plan');
      await this.executor.reshard(plan, signal, shouldContinue);
      return { strategy: 'hot-shards', openShards: open.length, plan };
    }
    const lastChangeAt = await history.lastChangeAt(streamName);
    const plan = planScaling({
      now,
      openShards: open.length,
      // Every shard's traffic, closed ones' too: it was all put to the stream.
      traffic: streamMinutes(shardMinutes, from, to, windowMs),
      callTimes: await history.callTimes(streamName, now - DAY_MS),
      ...(lastChangeAt === undefined ? {} : { lastChangeAt }),
      rules,
    });
    logger.info({ streamName, ...plan }, 'autoscale plan');
    await this.executor.resize(plan, signal, shouldContinue);
    return { strategy: 'uniform', openShards: open.length, plan };
  }

  private holding(strategy: ScalingStrategy, reason: string): AutoscaleDecision {
    this.options.logger.info({ streamName: this.options.streamName, reason }, 'autoscale: holding');
    return strategy === 'hot-shards'
      ? { strategy, openShards: -1, plan: { splits: [], merges: [], reasons: [reason] } }
      : { strategy, openShards: -1, plan: { action: 'hold', from: -1, to: -1, steps: [], reasons: [reason] } };
  }

  /** Plans every `intervalMs` until `stop()`; a failed cycle is logged and the next one tries again. */
  start(): void {
    const intervalMs = this.options.intervalMs ?? MINUTE_MS;
    const cycle = () => {
      this.running = this.runOnce()
        .catch((error: unknown) => {
          if (!this.controller.signal.aborted)
            this.options.logger.error({ err: error, streamName: this.options.streamName }, 'autoscale cycle failed');
        })
        .finally(() => {
          if (!this.controller.signal.aborted) this.timer = setTimeout(cycle, intervalMs);
        });
    };
    this.timer = setTimeout(cycle, 0);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    clearTimeout(this.timer);
    await this.running;
  }
}

function loadOf(
  shard: { shardId: string; hashKeyRange: { startingHashKey: string; endingHashKey: string } },
  shardMinutes: readonly ShardTrafficMinute[],
  from: number,
  to: number,
  windowMs: number,
): ShardLoad {
  const windows: ShardTrafficMinute[] = [];
  for (let minute = from; minute < to; minute += windowMs) {
    const entry = shardMinutes.find((candidate) => candidate.shardId === shard.shardId && candidate.minute === minute);
    windows.push({
      shardId: shard.shardId,
      minute,
      incomingBytes: entry?.incomingBytes ?? 0,
      incomingRecords: entry?.incomingRecords ?? 0,
      outgoingBytes: entry?.outgoingBytes ?? 0,
      outgoingRecords: entry?.outgoingRecords ?? 0,
      throttledPuts: entry?.throttledPuts ?? 0,
      hashKeyBins: entry?.hashKeyBins ?? [],
      ...(windowMs === MINUTE_MS ? {} : { seconds: windowMs / 1_000 }),
      ...(entry === undefined ? { measured: false } : {}),
    });
  }
  return {
    shardId: shard.shardId,
    startingHashKey: BigInt(shard.hashKeyRange.startingHashKey),
    endingHashKey: BigInt(shard.hashKeyRange.endingHashKey),
    windows,
  };
}
