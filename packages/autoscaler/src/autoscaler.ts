import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, type Logger } from '@shoal/coordinator';
import { openShards, ScalingExecutor } from './execution/scaling-executor.js';
import type { ScalingHistory } from './execution/scaling-history.js';
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
  readonly logger: Logger;
  readonly now?: () => number;
}

export type AutoscaleDecision =
  | { readonly strategy: 'uniform'; readonly openShards: number; readonly plan: ScalingPlan }
  | { readonly strategy: 'hot-shards'; readonly openShards: number; readonly plan: HotShardPlan };

const DAY_MS = 86_400_000;

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

  /** Plans once and applies the plan; resolves what was decided. */
  async runOnce(): Promise<AutoscaleDecision> {
    const { kinesis, streamName, traffic, history, rules, logger } = this.options;
    const windowMs = this.options.windowMs ?? MINUTE_MS;
    const signal = this.controller.signal;
    const now = this.now();
    const open = openShards(await listShards(kinesis, streamName, { signal }));
    const windows = Math.max(rules.upSustainMinutes, rules.downSustainMinutes);
    const to = minuteOf(now, windowMs);
    const from = to - windows * windowMs;
    const shardMinutes = await traffic.shardMinutes(streamName, from, to);
    if ((this.options.strategy ?? 'uniform') === 'hot-shards') {
      const loads = open.map((shard) => loadOf(shard, shardMinutes, from, to, windowMs));
      const plan = planHotShards(loads, rules);
      logger.info({ streamName, openShards: open.length, ...plan }, 'autoscale plan');
      await this.executor.reshard(plan, signal);
      return { strategy: 'hot-shards', openShards: open.length, plan };
    }
    const events = await history.recent(streamName, now - DAY_MS);
    const calls = events.filter((event) => event.kind === 'update-shard-count' && event.outcome !== 'dry-run');
    const changes = events.filter((event) => event.outcome === 'applied');
    const plan = planScaling({
      now,
      openShards: open.length,
      // Every shard's traffic, closed ones' too: it was all put to the stream.
      traffic: streamMinutes(shardMinutes, from, to, windowMs),
      callTimes: calls.map((event) => event.at),
      ...(changes[0] ? { lastChangeAt: changes[0].at } : {}),
      rules,
    });
    logger.info({ streamName, ...plan }, 'autoscale plan');
    await this.executor.resize(plan, signal);
    return { strategy: 'uniform', openShards: open.length, plan };
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
    });
  }
  return {
    shardId: shard.shardId,
    startingHashKey: BigInt(shard.hashKeyRange.startingHashKey),
    endingHashKey: BigInt(shard.hashKeyRange.endingHashKey),
    windows,
  };
}
