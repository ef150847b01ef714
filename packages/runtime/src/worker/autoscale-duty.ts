import type { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  Autoscaler,
  resolveScalingRules,
  type AutoscalerOptions,
  type ScalingHistory,
  type ScalingRules,
  type ScalingStrategy,
  type TrafficSource,
} from '@shoal/autoscaler';
import type { Logger } from '@shoal/coordinator';

/** `WorkerOptions.autoscale`: the fleet's leader scales the streams it consumes to their traffic. */
export interface WorkerAutoscaleOptions {
  /** The planner's rules (see `ScalingRules`); defaults for the rest. */
  readonly rules?: Partial<ScalingRules>;
  /** `uniform` (default) or `hot-shards`. */
  readonly strategy?: ScalingStrategy;
  /** How often the leader plans. Default 60000 ms. */
  readonly intervalMs?: number;
  /** Plan, log and record; change nothing. */
  readonly dryRun?: boolean;
}

export interface AutoscaleDutyOptions {
  readonly autoscale: WorkerAutoscaleOptions;
  readonly kinesis: KinesisClient;
  readonly traffic: TrafficSource & { readonly windowMs?: number };
  readonly history: ScalingHistory;
  /** Holds a stream for one autoscaler at a time (see `RedisScalingHistory.hold`). */
  readonly hold?: AutoscalerOptions['hold'];
  readonly streamNames: () => readonly string[];
  readonly isLeading: () => boolean;
  readonly logger: Logger;
}

/**
 * Autoscaling as a duty of the fleet's leader: every `intervalMs`, while this worker leads, one
 * autoscaler cycle per consumed stream. Only the leader plans, and the history (with the calls
 * of the last 24 hours) is shared in Redis, so a new leader goes on where the last one stopped.
 */
export class AutoscaleDuty {
  private readonly rules: ScalingRules;
  private readonly autoscalers = new Map<string, Autoscaler>();
  private timer: NodeJS.Timeout | undefined;
  private cycle: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: AutoscaleDutyOptions) {
    this.rules = resolveScalingRules(options.autoscale.rules);
  }

  start(): void {
    const intervalMs = this.options.autoscale.intervalMs ?? 60_000;
    const tick = () => {
      this.cycle = this.runOnce().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, intervalMs);
      });
    };
    this.timer = setTimeout(tick, intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.cycle;
    await Promise.all([...this.autoscalers.values()].map((autoscaler) => autoscaler.stop()));
  }

  private async runOnce(): Promise<void> {
    if (!this.options.isLeading()) return;
    const streams = this.options.streamNames();
    for (const streamName of this.autoscalers.keys()) if (!streams.includes(streamName)) this.autoscalers.delete(streamName);
    for (const streamName of streams) {
      if (this.stopped) return;
      try {
        // A leader deposed mid-plan stops between steps.
        await this.autoscalerOf(streamName).runOnce(() => !this.stopped && this.options.isLeading());
      } catch (error) {
        this.options.logger.error({ err: error, streamName }, 'autoscale cycle failed');
      }
    }
  }

  private autoscalerOf(streamName: string): Autoscaler {
    let autoscaler = this.autoscalers.get(streamName);
    if (!autoscaler) {
      const { kinesis, traffic, history, logger, autoscale } = this.options;
      autoscaler = new Autoscaler({
        kinesis,
        streamName,
        traffic,
        history,
        rules: this.rules,
        strategy: autoscale.strategy ?? 'uniform',
        ...(traffic.windowMs === undefined ? {} : { windowMs: traffic.windowMs }),
        dryRun: autoscale.dryRun ?? false,
        ...(this.options.hold ? { hold: this.options.hold } : {}),
        logger,
      });
      this.autoscalers.set(streamName, autoscaler);
    }
    return autoscaler;
  }
}
