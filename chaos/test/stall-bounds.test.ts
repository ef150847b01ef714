import { resolveWorkerOptions } from '@shoal/runtime';
import { describe, expect, it } from 'vitest';
import { CHAOS_EVENT_KINDS, DEFAULT_TIMINGS, STALL_BOUNDS, stallBoundMs, worstStallBound } from '../src/index.js';

describe('stall bounds', () => {
  it('are derived from the timings the worker really defaults to', () => {
    const options = resolveWorkerOptions({
      applicationName: 'app',
      streamName: 'stream',
      processorFactory: () => ({ processRecords() {}, shardEnded() {}, shutdownRequested() {} }),
    });
    expect(DEFAULT_TIMINGS).toEqual({
      livenessSelfFenceMs: options.coordination.livenessSelfFenceMs,
      livenessFailoverMs: options.coordination.livenessFailoverMs,
      leadershipDurationMs: options.coordination.leadershipDurationMs,
      leadershipRenewIntervalMs: options.coordination.leadershipRenewIntervalMs,
      leaseSyncIntervalMs: options.leaseSyncIntervalMs,
      dynamoDbRequestTimeoutMs: options.dynamoDbRequestTimeoutMs,
      retryMaxMs: options.retrieval.retryMaxMs,
      idleTimeBetweenReadsMs: options.retrieval.idleTimeBetweenReadsMs,
      abortGraceMs: options.abortGraceMs,
    });
  });

  it('cover every event kind, each with a reason', () => {
    for (const kind of CHAOS_EVENT_KINDS) {
      expect(STALL_BOUNDS[kind].baseMs).toBeGreaterThan(0);
      expect(STALL_BOUNDS[kind].reason).not.toBe('');
    }
  });

  it('take the worst among the injected events, durations included', () => {
    expect(worstStallBound([])).toEqual({ boundMs: stallBoundMs('none'), kind: 'none' });
    expect(worstStallBound([{ kind: 'sigkill' }, { kind: 'sigkill-leader' }, { kind: 'split' }])).toEqual({
      boundMs: stallBoundMs('sigkill-leader'),
      kind: 'sigkill-leader',
    });
    expect(worstStallBound([{ kind: 'sigkill-leader' }, { kind: 'kinesis-throttle', durationMs: 2_000 }]).kind).toBe('kinesis-throttle');
  });
});
