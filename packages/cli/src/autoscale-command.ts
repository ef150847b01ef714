import { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  Autoscaler,
  InvalidScalingRulesError,
  RedisScalingHistory,
  RedisTrafficStore,
  resolveScalingRules,
  type AutoscaleDecision,
  type ScalingRules,
  type ScalingStrategy,
} from '@shoal/autoscaler';
import { createFailOpenRedis, waitUntilReady } from '@shoal/coordinator';
import { Option, type Command } from 'commander';
import { awsClientConfig } from './aws-client-config.js';
import { fraction } from './capacity-command.js';
import { httpUrl, nonEmpty, nonNegativeInteger, positiveInteger } from './option-parsers.js';
import type { CliIo } from './program.js';

interface AutoscaleFlags {
  readonly stream: string;
  readonly redis: string;
  readonly strategy: ScalingStrategy;
  readonly once?: true;
  readonly dryRun?: true;
  readonly json?: true;
  readonly minShards?: number;
  readonly maxShards?: number;
  readonly headroom?: number;
  readonly upThreshold?: number;
  readonly downThreshold?: number;
  readonly upWindows?: number;
  readonly downWindows?: number;
  readonly downCooldown?: number;
  readonly upCooldown?: number;
  readonly minStep?: number;
  readonly callsReservedForUp?: number;
  readonly callsPerDay?: number;
  readonly powerOfTwo?: true;
  readonly pollingConsumers?: number;
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly region?: string;
  readonly kinesisEndpoint?: string;
}

/** Each rule flag (as commander names it) and the rule it sets. */
const RULE_FLAGS = {
  minShards: 'minShards',
  maxShards: 'maxShards',
  headroom: 'headroom',
  upThreshold: 'upThreshold',
  downThreshold: 'downThreshold',
  upWindows: 'upSustainMinutes',
  downWindows: 'downSustainMinutes',
  downCooldown: 'downCooldownMinutes',
  upCooldown: 'upCooldownMinutes',
  minStep: 'minStep',
  callsReservedForUp: 'callsReservedForUp',
  callsPerDay: 'maxCallsPer24Hours',
  pollingConsumers: 'pollingConsumers',
  powerOfTwo: 'powerOfTwo',
} as const satisfies Partial<Record<keyof AutoscaleFlags, keyof ScalingRules>>;

function rulesFrom(flags: AutoscaleFlags): ScalingRules {
  const given = Object.fromEntries(
    Object.entries(RULE_FLAGS)
      .filter(([flag]) => flags[flag as keyof typeof RULE_FLAGS] !== undefined)
      .map(([flag, rule]) => [rule, flags[flag as keyof typeof RULE_FLAGS]]),
  ) as Partial<ScalingRules>;
  return resolveScalingRules(given);
}

function describeDecision(decision: AutoscaleDecision): string {
  if (decision.strategy === 'uniform') {
    const { plan } = decision;
    const head =
      plan.action === 'hold'
        ? plan.from >= 0
          ? `hold at ${plan.from} shards`
          : 'hold'
        : `${plan.action} ${plan.from} → ${plan.to} (steps ${plan.steps.join(' → ')})`;
    return [head, ...plan.reasons.map((reason) => `  ${reason}`)].join('\n');
  }
  const { plan } = decision;
  return [
    ...plan.reasons,
    ...plan.splits.flatMap((split) => [
      `split ${split.shardId} at ${split.newStartingHashKey}`,
      ...split.reasons.map((reason) => `  ${reason}`),
    ]),
    ...plan.merges.flatMap((merge) => [
      `merge ${merge.shardId} and ${merge.adjacentShardId}`,
      ...merge.reasons.map((reason) => `  ${reason}`),
    ]),
  ].join('\n');
}

/** Adds `shoal autoscale` to the program. */
export function addAutoscaleCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  program
    .command('autoscale')
    .description(
      "Scale a stream's shards to its traffic, as Shoal's consumers measure it in Redis: with UpdateShardCount to a planned count (uniform), or by splitting hot shards at their traffic median and merging cold pairs (hot-shards). Every plan is printed with its reasons; the history is kept in Redis.",
    )
    .requiredOption('--stream <name>', 'the stream', nonEmpty)
    .requiredOption('--redis <url>', 'the Redis the consumers write their traffic windows to (redis:// or rediss://)', nonEmpty)
    .addOption(new Option('--strategy <strategy>', 'uniform or hot-shards').choices(['uniform', 'hot-shards']).default('uniform'))
    .option('--once', 'plan (and apply) once, print the plan, and exit')
    .option('--dry-run', 'plan and record, change nothing')
    .option('--json', 'with --once: the decision as one JSON object')
    .option('--min-shards <n>', 'never fewer (default 1)', positiveInteger)
    .option('--max-shards <n>', 'never more (default 512)', positiveInteger)
    .option('--headroom <percent>', 'spare capacity over the need (default 15%)', fraction)
    .option('--up-threshold <percent>', 'scale up at this utilisation (default 88%)', fraction)
    .option('--down-threshold <percent>', 'scale down below this utilisation (default 72%)', fraction)
    .option('--up-windows <n>', 'windows above the up threshold before scaling up (default 1)', positiveInteger)
    .option('--down-windows <n>', 'windows below the down threshold before scaling down (default 10)', positiveInteger)
    .option('--down-cooldown <n>', 'minutes after a change before scaling down (default 15)', nonNegativeInteger)
    .option('--up-cooldown <n>', 'minutes after a change before scaling up, unless producers are throttled (default 5)', nonNegativeInteger)
    .option('--min-step <percent>', 'the smallest change worth a call (default 20%)', fraction)
    .option('--calls-reserved-for-up <n>', 'calls of the 24 hours scaling down never spends (default 1)', nonNegativeInteger)
    .option('--calls-per-day <n>', 'UpdateShardCount calls allowed in any 24 hours (default 10)', positiveInteger)
    .option('--polling-consumers <n>', 'applications polling every record (default 1)', nonNegativeInteger)
    .option('--power-of-two', 'round targets up to a power of two')
    .option('--interval-ms <ms>', 'how often to plan', positiveInteger, 60_000)
    .option('--window-ms <ms>', 'the traffic window the consumers count in', positiveInteger, 60_000)
    .option('--region <region>', 'AWS region (default: from the environment)', nonEmpty)
    .option('--kinesis-endpoint <url>', 'Kinesis endpoint, e.g. an emulator', httpUrl)
    .action(async (flags: AutoscaleFlags) => {
      let rules: ScalingRules;
      try {
        rules = rulesFrom(flags);
      } catch (error) {
        if (!(error instanceof InvalidScalingRulesError)) throw error;
        io.writeError(`${error.message}\n`);
        setExitCode(1);
        return;
      }
      const redis = createFailOpenRedis(flags.redis, 2_000, io.logger, 'autoscale');
      const kinesis = new KinesisClient(awsClientConfig(flags.kinesisEndpoint, flags.region) ?? {});
      try {
        await waitUntilReady(redis, 5_000);
        if (redis.status !== 'ready') throw new Error(`cannot reach Redis at ${flags.redis}`);
        const history = new RedisScalingHistory({ redis });
        const autoscaler = new Autoscaler({
          kinesis,
          streamName: flags.stream,
          traffic: new RedisTrafficStore({ redis, windowMs: flags.windowMs }),
          history,
          hold: (streamName, ttlMs) => history.hold(streamName, ttlMs),
          rules,
          strategy: flags.strategy,
          windowMs: flags.windowMs,
          intervalMs: flags.intervalMs,
          dryRun: flags.dryRun === true,
          logger: io.logger,
        });
        if (flags.once) {
          const decision = await autoscaler.runOnce();
          io.write(`${flags.json ? JSON.stringify(decision) : describeDecision(decision)}\n`);
        } else {
          autoscaler.start();
          await new Promise<void>((resolve) => {
            if (io.signal.aborted) resolve();
            io.signal.addEventListener('abort', () => resolve(), { once: true });
          });
          await autoscaler.stop();
        }
        setExitCode(0);
      } catch (error) {
        io.writeError(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
        setExitCode(1);
      } finally {
        kinesis.destroy();
        redis.disconnect();
      }
    });
}
