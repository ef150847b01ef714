/**
 * Shard autoscaling, simulated: a week of minutes of write traffic (a daily cycle, weekends
 * lower, sudden spikes of up to +15 % lasting 10 to 45 minutes; seeded), played against
 * - the planner (`planScaling` with its default rules),
 * - the simple rule people write by hand: needed = ceil(incoming MiB/s) + 1, up whenever above
 *   the open count, down whenever below 75 % of it,
 * - the oracle: every minute exactly the shards it needs, rounded up (no API limits).
 * An UpdateShardCount takes 2 minutes, during which the stream serves the smaller count and costs
 * the larger; Kinesis refuses calls beyond 10 in any 24 hours. `AUTOSCALE_SEEDS` (5) weeks, each
 * its own seed; the table shows each figure's median and worst.
 * Targets for the planner: overCapacityMinutes 0, shardHours ≤ 1.25 × the oracle's, never more
 * calls in 24 hours than the limit.
 */
import {
  DEFAULT_SCALING_RULES,
  oracleShardHours,
  planScaling,
  simpleRuleScaler,
  simulate,
  syntheticTraffic,
  type SimulationResult,
} from '@shoal/autoscaler';
import { median, printTable, sourceState, writeResult } from './report.js';

const SEEDS = Number(process.env.AUTOSCALE_SEEDS ?? 5);
const INITIAL_SHARDS = 8;
const TARGETS = { overCapacityMinutes: 0, shardHoursRatio: 1.25, maxCallsIn24h: DEFAULT_SCALING_RULES.maxCallsPer24Hours };

interface Week {
  readonly seed: number;
  readonly oracleShardHours: number;
  readonly planner: SimulationResult;
  readonly simple: SimulationResult;
}

function figures(result: SimulationResult, oracle: number) {
  return {
    shardHours: Math.round(result.shardHours),
    oracleShardHours: Math.round(oracle),
    shardHoursRatio: Math.round((result.shardHours / oracle) * 1_000) / 1_000,
    overCapacityMinutes: result.overCapacityMinutes,
    apiCalls: result.apiCalls,
    refusedCalls: result.refusedCalls,
    maxCallsIn24h: result.maxCallsIn24h,
  };
}

export async function run(): Promise<void> {
  const weeks: Week[] = [];
  for (let seed = 1; seed <= SEEDS; seed += 1) {
    const traffic = syntheticTraffic({ seed });
    weeks.push({
      seed,
      oracleShardHours: oracleShardHours(traffic),
      planner: simulate({
        traffic,
        initialShards: INITIAL_SHARDS,
        scaler: (view) => planScaling({ ...view, rules: DEFAULT_SCALING_RULES }).steps,
      }),
      simple: simulate({ traffic, initialShards: INITIAL_SHARDS, scaler: simpleRuleScaler() }),
    });
  }
  const per = (pick: (week: Week) => SimulationResult) => weeks.map((week) => figures(pick(week), week.oracleShardHours));
  const planner = per((week) => week.planner);
  const simple = per((week) => week.simple);
  const summary = (rows: ReturnType<typeof per>) => ({
    shardHours: median(rows.map((row) => row.shardHours)),
    oracleShardHours: median(rows.map((row) => row.oracleShardHours)),
    shardHoursRatio: median(rows.map((row) => row.shardHoursRatio)),
    worstShardHoursRatio: Math.max(...rows.map((row) => row.shardHoursRatio)),
    overCapacityMinutes: median(rows.map((row) => row.overCapacityMinutes)),
    worstOverCapacityMinutes: Math.max(...rows.map((row) => row.overCapacityMinutes)),
    apiCalls: median(rows.map((row) => row.apiCalls)),
    refusedCalls: median(rows.map((row) => row.refusedCalls)),
    maxCallsIn24h: Math.max(...rows.map((row) => row.maxCallsIn24h)),
  });
  const plannerSummary = summary(planner);
  const simpleSummary = summary(simple);
  printTable(`autoscale: ${SEEDS} simulated weeks (medians; worst where marked)`, [
    ['figure', 'planner', 'simple rule', 'oracle', 'target (planner)'],
    ['shard-hours', plannerSummary.shardHours, simpleSummary.shardHours, plannerSummary.oracleShardHours, ''],
    [
      '÷ oracle (worst)',
      `${plannerSummary.shardHoursRatio} (${plannerSummary.worstShardHoursRatio})`,
      `${simpleSummary.shardHoursRatio} (${simpleSummary.worstShardHoursRatio})`,
      1,
      `≤ ${TARGETS.shardHoursRatio}`,
    ],
    [
      'minutes over capacity (worst)',
      `${plannerSummary.overCapacityMinutes} (${plannerSummary.worstOverCapacityMinutes})`,
      `${simpleSummary.overCapacityMinutes} (${simpleSummary.worstOverCapacityMinutes})`,
      0,
      '0',
    ],
    ['UpdateShardCount calls a week', plannerSummary.apiCalls, simpleSummary.apiCalls, '', ''],
    ['calls Kinesis refuses', plannerSummary.refusedCalls, simpleSummary.refusedCalls, '', '0'],
    ['most calls in 24 h (worst)', plannerSummary.maxCallsIn24h, simpleSummary.maxCallsIn24h, '', `≤ ${TARGETS.maxCallsIn24h}`],
  ]);
  writeResult('autoscale', {
    source: sourceState(),
    seeds: SEEDS,
    minutes: 7 * 1_440,
    rules: DEFAULT_SCALING_RULES,
    planner: plannerSummary,
    simpleRule: simpleSummary,
    oracleShardHours: plannerSummary.oracleShardHours,
    perWeek: weeks.map((week, index) => ({ seed: week.seed, planner: planner[index], simpleRule: simple[index] })),
    met:
      plannerSummary.worstOverCapacityMinutes === TARGETS.overCapacityMinutes &&
      plannerSummary.worstShardHoursRatio <= TARGETS.shardHoursRatio &&
      plannerSummary.maxCallsIn24h <= TARGETS.maxCallsIn24h,
    target: TARGETS,
  });
}
