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
export {
  HASH_KEY_BINS,
  MINUTE_MS,
  hashKeyBin,
  minuteOf,
  streamMinutes,
  trafficMedianHashKey,
  type ShardTrafficMinute,
  type TrafficSource,
} from './traffic/shard-traffic.js';
export {
  RedisTrafficStore,
  type RedisTrafficStoreOptions,
  type ShardTrafficSample,
  type TrafficSink,
} from './traffic/redis-traffic-store.js';
export { planHotShards, type HotShardPlan, type ShardLoad, type ShardMerge, type ShardSplit } from './hot-shard-planner.js';
export {
  ACCEPTED_OUTCOMES,
  MemoryScalingHistory,
  RedisScalingHistory,
  type StreamHold,
  type RedisScalingHistoryOptions,
  type ScalingEvent,
  type ScalingHistory,
} from './execution/scaling-history.js';
export { ScalingExecutor, ScalingStepError, openShards, type ScalingExecutorOptions } from './execution/scaling-executor.js';
export { Autoscaler, type AutoscaleDecision, type AutoscalerOptions, type ScalingStrategy } from './autoscaler.js';
export { CloudWatchTrafficSource, type CloudWatchTrafficSourceOptions } from './traffic/cloudwatch-traffic-source.js';
export { recordPutTraffic, type PutTrafficOptions, type PutTrafficRecorder } from './traffic/put-traffic-recorder.js';
export { TrafficWindows, type WindowCounts } from './traffic/traffic-windows.js';
