export { SHARD_LIMITS, bindingLimit, nextPowerOfTwo, shardNeeds, type BindingLimit, type ShardNeeds } from './shard-limits.js';
export { planCapacity, type CapacityPlan, type ShardUse, type Workload } from './capacity.js';
export { DEFAULT_SCALING_RULES, InvalidScalingRulesError, resolveScalingRules, type ScalingRules } from './scaling-rules.js';
export {
  minuteNeed,
  planScaling,
  shardCountSteps,
  type ScalingAction,
  type ScalingInput,
  type ScalingPlan,
  type TrafficMinute,
} from './scaling-planner.js';
export { seededRandom } from './simulation/seeded-random.js';
export { syntheticTraffic, type SyntheticTrafficOptions } from './simulation/synthetic-traffic.js';
export {
  oracleShardHours,
  simpleRuleScaler,
  simulate,
  type Scaler,
  type ScalerView,
  type SimulationOptions,
  type SimulationResult,
} from './simulation/simulate.js';
