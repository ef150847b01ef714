/**
 * `@shoal/chaos`: the chaos suite. A seeded, bounded run of worker processes under continuous
 * load with injected faults (kills, pauses, NATS partitions and restarts, Redis restarts,
 * DynamoDB and Kinesis faults, splits and merges), every side effect logged to one shared file,
 * and a checker that reads that file and reports lost, repeated, reordered and overlapping
 * work, stale checkpoints and stalls.
 *
 * @example
 * ```ts
 * import { runChaos, formatReport } from '@shoal/chaos';
 *
 * const result = await runChaos({ seed: 7, minutes: 2, runDir: '/tmp/chaos-7' });
 * console.log(formatReport(result));
 * if (!result.report.passed) process.exitCode = 1;
 * ```
 *
 * @module
 */
export { runChaos, type ChaosRunOptions, type ChaosRunResult } from './runner.js';
export { checkChaosLog, type ChaosReport, type TargetResult } from './checker.js';
export { attributeStall, type EventRef, type StallReport } from './stall-attribution.js';
export { findStalls, type RecordTimes, type Stall } from './stalls.js';
export { STALL_BOUNDS, DEFAULT_TIMINGS, stallBoundMs, worstStallBound, type StallBound } from './stall-bounds.js';
export { planChaos, type ChaosPlan, type PlanOptions, type ScheduledEvent } from './schedule.js';
export { createPrng, type Prng } from './prng.js';
export { CHAOS_EVENT_KINDS, UNCLEAN_EVENT_SCOPE, type ChaosEventKind } from './event-kinds.js';
export { parseLog, parseLogLine, type BatchOutcome, type LifecycleEvent, type LogLine } from './log-lines.js';
export { readSharedLog } from './shared-log.js';
export { formatReport, resultJson, writeResultJson } from './report.js';
