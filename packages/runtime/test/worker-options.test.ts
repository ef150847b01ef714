import type { ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { InvalidOptionsError } from '../src/errors.js';
import { resolveWorkerOptions, selfFenceAfterMs, type WorkerOptions } from '../src/worker/worker-options.js';

const processorFactory: ShardRecordProcessorFactory = () => ({
  processRecords() {},
  shardEnded() {},
  shutdownRequested() {},
});

const required = { applicationName: 'billing', streamName: 'orders', processorFactory } satisfies WorkerOptions;

/** The InvalidOptionsError that resolving `options` throws (fails the test if none is thrown). */
function rejectionOf(options: unknown): InvalidOptionsError {
  try {
    resolveWorkerOptions(options as WorkerOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionsError);
    return error as InvalidOptionsError;
  }
  throw new Error('expected resolveWorkerOptions to reject the options');
}

describe('resolveWorkerOptions: defaults', () => {
  it('fills in every default around the required fields', () => {
    const resolved = resolveWorkerOptions(required);
    expect(resolved).toMatchObject({
      applicationName: 'billing',
      streamName: 'orders',
      processorFactory,
      kinesis: {},
      dynamoDb: {},
      leaseTableName: 'shoal-leases',
      initialPosition: { type: 'LATEST' },
      leaseDurationMs: 15_000,
      heartbeatIntervalMs: 5_000,
      leaseSyncIntervalMs: 1_000,
      shardSyncIntervalMs: 60_000,
      drainTimeoutMs: 10_000,
      handoffWaitMs: 30_000,
      processorRetryBaseMs: 100,
      processorRetryMaxMs: 10_000,
      retrieval: {
        maxRecordsPerCall: 10_000,
        idleTimeBetweenReadsMs: 250,
        maxIdleTimeBetweenReadsMs: 1_000,
        maxBufferedRecords: 20_000,
        maxBufferedBytes: 32 * 1024 * 1024,
        retryBaseMs: 200,
        retryMaxMs: 5_000,
      },
    });
    expect(resolved.maxLeasesPerWorker).toBeUndefined();
    expect(resolved.readBudget).toBeUndefined();
    expect(resolved.logger).toBeUndefined();
    expect(resolved.workerId).toMatch(/^.+-\d+-[0-9a-f]{6}$/);
  });

  it('gives each resolution its own worker id', () => {
    expect(resolveWorkerOptions(required).workerId).not.toBe(resolveWorkerOptions(required).workerId);
  });

  it('fills in the retrieval fields that were left out', () => {
    const resolved = resolveWorkerOptions({ ...required, retrieval: { maxRecordsPerCall: 500 } });
    expect(resolved.retrieval).toEqual({
      maxRecordsPerCall: 500,
      idleTimeBetweenReadsMs: 250,
      maxIdleTimeBetweenReadsMs: 1_000,
      idleReadsPerSecond: 100,
      maxBufferedRecords: 20_000,
      maxBufferedBytes: 32 * 1024 * 1024,
      retryBaseMs: 200,
      retryMaxMs: 5_000,
    });
  });

  it('fills in the enhanced fan-out fields that were left out, and polls when it is not asked for', () => {
    expect(resolveWorkerOptions(required).fanOut).toBeUndefined();
    expect(resolveWorkerOptions({ ...required, fanOut: { consumerName: 'orders-app' } }).fanOut).toEqual({
      consumerName: 'orders-app',
      renewSubscriptionAfterMs: 290_000,
      maxEventGapMs: 30_000,
      shardEndCheckIntervalMs: 10_000,
    });
  });

  it('rejects enhanced fan-out options that cannot work, naming each', () => {
    const error = rejectionOf({
      ...required,
      fanOut: { consumerName: 'no spaces', renewSubscriptionAfterMs: 600_000, subscribeClient: {} },
    });
    expect(error.issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^fanOut\.consumerName: may contain only letters/),
        expect.stringMatching(/^fanOut\.renewSubscriptionAfterMs: must be at most 300000 ms: Kinesis ends a subscription after 5 minutes/),
        expect.stringMatching(/^fanOut\.subscribeClient: must be a KinesisClient/),
      ]),
    );
  });

  it('rejects autoscaling without Redis or a bus, or with rules that cannot hold, naming each', () => {
    const error = rejectionOf({ ...required, autoscale: { rules: { upThreshold: 0.5, downThreshold: 0.6 }, strategy: 'hot-shards' } });
    expect(error.issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^autoscale: needs `redis`/),
        expect.stringMatching(/^autoscale: needs a coordination bus/),
        expect.stringMatching(/^autoscale\.rules: downThreshold: must be 0 or more and below upThreshold \(0\.5\)/),
      ]),
    );
    expect(rejectionOf({ ...required, autoscale: { strategy: 'sideways' } }).issues[0]).toMatch(/^autoscale\.strategy: /);
  });

  it('keeps values that were given', () => {
    const resolved = resolveWorkerOptions({ ...required, workerId: 'worker-7', leaseDurationMs: 9_000, heartbeatIntervalMs: 3_000 });
    expect(resolved).toMatchObject({ workerId: 'worker-7', leaseDurationMs: 9_000, heartbeatIntervalMs: 3_000 });
    expect(selfFenceAfterMs(resolved)).toBe(6_000);
  });

  it('accepts an initial position as a string', () => {
    expect(resolveWorkerOptions({ ...required, initialPosition: 'LATEST' }).initialPosition).toEqual({ type: 'LATEST' });
    expect(resolveWorkerOptions({ ...required, initialPosition: 'TRIM_HORIZON' }).initialPosition).toEqual({ type: 'TRIM_HORIZON' });
  });

  it('accepts an AT_TIMESTAMP initial position with a date', () => {
    const timestamp = new Date('2024-05-06T07:08:09.010Z');
    const resolved = resolveWorkerOptions({ ...required, initialPosition: { type: 'AT_TIMESTAMP', timestamp } });
    expect(resolved.initialPosition).toEqual({ type: 'AT_TIMESTAMP', timestamp });
  });
});

describe('resolveWorkerOptions: invalid options name the field', () => {
  it('rejects a missing applicationName', () => {
    const { applicationName: _, ...options } = required;
    const error = rejectionOf(options);
    expect(error.code).toBe('INVALID_OPTIONS');
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatch(/^applicationName: /);
    expect(error.message).toContain('applicationName');
  });

  it('rejects a streamName with characters Kinesis does not allow', () => {
    const error = rejectionOf({ ...required, streamName: 'orders stream!' });
    expect(error.issues).toEqual([expect.stringMatching(/^streamName: may contain only letters/)]);
  });

  it('rejects a processorFactory that is not a function', () => {
    const error = rejectionOf({ ...required, processorFactory: { processRecords() {} } });
    expect(error.issues).toEqual([expect.stringMatching(/^processorFactory: must be a function/)]);
  });

  it('rejects a negative leaseDurationMs, and reports no rule that reads it', () => {
    const error = rejectionOf({ ...required, leaseDurationMs: -1 });
    // heartbeatIntervalMs (left at its default) is compared with leaseDurationMs only when both are valid.
    expect(error.issues).toEqual([expect.stringMatching(/^leaseDurationMs: must be a positive whole number of milliseconds; got -1/)]);
    const coordination = rejectionOf({ ...required, coordination: { livenessSelfFenceMs: -5 } });
    expect(coordination.issues).toEqual([expect.stringMatching(/^coordination\.livenessSelfFenceMs: .*got -5/)]);
  });

  it('rejects a heartbeatIntervalMs of half the lease duration or more', () => {
    const error = rejectionOf({ ...required, leaseDurationMs: 10_000, heartbeatIntervalMs: 5_000 });
    expect(error.issues).toEqual([expect.stringMatching(/^heartbeatIntervalMs: must be less than half of leaseDurationMs \(10000\)/)]);
    expect(() => resolveWorkerOptions({ ...required, leaseDurationMs: 10_000, heartbeatIntervalMs: 4_999 })).not.toThrow();
  });

  it('rejects coordination timings under which a worker could still process after the leader freed its leases', () => {
    const error = rejectionOf({ ...required, coordination: { livenessSelfFenceMs: 1_600, livenessFailoverMs: 2_000 } });
    expect(error.issues).toEqual([
      expect.stringMatching(
        /^coordination\.livenessFailoverMs: must be at least coordination\.livenessSelfFenceMs \+ abortGraceMs \(1600 \+ 500\)/,
      ),
    ]);
    expect(() => resolveWorkerOptions({ ...required, abortGraceMs: 400, coordination: { livenessSelfFenceMs: 1_600 } })).not.toThrow();
    expect(rejectionOf({ ...required, abortGraceMs: 400, heartbeatIntervalMs: 300, leaseDurationMs: 1_000 }).issues).toEqual([
      expect.stringMatching(/^abortGraceMs: must not exceed heartbeatIntervalMs \(300\)/),
    ]);
  });

  it('rejects a renew interval whose half is shorter than abortGraceMs', () => {
    // A new leader that takes over an expired term revokes the previous leader at once. The old
    // leader stopped half a renew interval before the claim: its batch in flight must end in that time.
    const error = rejectionOf({ ...required, coordination: { leadershipDurationMs: 2_500, leadershipRenewIntervalMs: 200 } });
    expect(error.issues).toEqual([
      expect.stringMatching(/^abortGraceMs: must be at most half of coordination\.leadershipRenewIntervalMs \(200\)/),
    ]);
  });

  it('rejects a liveness interval too long to retry a lost grant, and a leadership renewal too slow for its duration', () => {
    const error = rejectionOf({ ...required, coordination: { livenessIntervalMs: 600, leadershipRenewIntervalMs: 2_000 } });
    expect(error.issues).toEqual([
      expect.stringMatching(/^coordination\.livenessIntervalMs: must be at most a third of coordination\.livenessSelfFenceMs \(1500\)/),
      expect.stringMatching(
        /^coordination\.leadershipRenewIntervalMs: must be less than half of coordination\.leadershipDurationMs \(2500\)/,
      ),
    ]);
  });

  it('rejects a heartbeatIntervalMs above the default lease duration', () => {
    const error = rejectionOf({ ...required, heartbeatIntervalMs: 20_000 });
    expect(error.issues).toEqual([expect.stringMatching(/^heartbeatIntervalMs: /)]);
  });

  it('rejects retry bases above their maximum', () => {
    const error = rejectionOf({ ...required, processorRetryBaseMs: 500, processorRetryMaxMs: 100, retrieval: { retryBaseMs: 9_000 } });
    expect(error.issues).toEqual([
      expect.stringMatching(/^processorRetryBaseMs: must not exceed processorRetryMaxMs/),
      expect.stringMatching(/^retrieval\.retryBaseMs: must not exceed retrieval\.retryMaxMs/),
    ]);
  });

  it('rejects an option it does not know', () => {
    const error = rejectionOf({ ...required, leaseDurationMillis: 10_000 });
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toContain('leaseDurationMillis');
  });

  it('rejects an unknown retrieval option', () => {
    const error = rejectionOf({ ...required, retrieval: { maxRecords: 100 } });
    expect(error.issues[0]).toMatch(/^retrieval: /);
    expect(error.issues[0]).toContain('maxRecords');
  });

  it('takes Infinity for retrieval.idleReadsPerSecond (no pacing), and rejects a rate of 0', () => {
    const unpaced = resolveWorkerOptions({ ...required, retrieval: { idleReadsPerSecond: Number.POSITIVE_INFINITY } });
    expect(unpaced.retrieval.idleReadsPerSecond).toBe(Number.POSITIVE_INFINITY);
    const error = rejectionOf({ ...required, retrieval: { idleReadsPerSecond: 0 } });
    expect(error.issues).toEqual([expect.stringMatching(/^retrieval\.idleReadsPerSecond: /)]);
  });

  it('names what is wrong in the nats and redis options', () => {
    expect(rejectionOf({ ...required, nats: { servers: [] } }).issues).toEqual([
      expect.stringMatching(/^nats\.servers: must name a NATS server/),
    ]);
    expect(rejectionOf({ ...required, nats: { servers: 'x:4222', password: 'p' } as never }).issues).toEqual([
      expect.stringMatching(/^nats: Unrecognized key: "password"/),
    ]);
    expect(rejectionOf({ ...required, redis: { url: 'http://127.0.0.1:6379' } }).issues).toEqual([
      expect.stringMatching(/^redis\.url: must be a redis:\/\/ or rediss:\/\/ URL/),
    ]);
    expect(resolveWorkerOptions({ ...required, nats: { servers: ['a:4222', 'b:4222'], token: 't' } }).nats).toEqual({
      servers: ['a:4222', 'b:4222'],
      token: 't',
    });
  });

  it('rejects retrieval.maxRecordsPerCall above the Kinesis limit of 10000', () => {
    const error = rejectionOf({ ...required, retrieval: { maxRecordsPerCall: 10_001 } });
    expect(error.issues).toEqual([expect.stringMatching(/^retrieval\.maxRecordsPerCall: /)]);
  });

  it('rejects an unknown initial position and an AT_TIMESTAMP without a date, naming the accepted values', () => {
    expect(rejectionOf({ ...required, initialPosition: 'EARLIEST' }).issues).toEqual([
      "initialPosition: must be 'TRIM_HORIZON', 'LATEST', { type: 'TRIM_HORIZON' | 'LATEST' } or { type: 'AT_TIMESTAMP', timestamp: Date }; got 'EARLIEST'",
    ]);
    expect(rejectionOf({ ...required, initialPosition: { type: 'AT_TIMESTAMP', timestamp: '2024-05-06' } }).issues[0]).toMatch(
      /^initialPosition/,
    );
  });

  it('rejects a logger that is not pino-like', () => {
    expect(rejectionOf({ ...required, logger: console }).issues).toEqual([expect.stringMatching(/^logger: must be a pino logger/)]);
  });

  it('lists every bad field at once', () => {
    const error = rejectionOf({ applicationName: '', streamName: 'orders', processorFactory: 'nope', drainTimeoutMs: 0 });
    const fields = error.issues.map((issue) => issue.split(':')[0]);
    expect(fields).toEqual(expect.arrayContaining(['applicationName', 'processorFactory', 'drainTimeoutMs']));
  });

  it('rejects something that is not an object', () => {
    expect(rejectionOf(undefined).issues).toEqual(['options: must be an object']);
  });
});

describe('resolveWorkerOptions: streams', () => {
  const { streamName: _single, ...noStream } = required;

  it('takes one stream, a list or a pattern, and says which', () => {
    expect(resolveWorkerOptions(required).streamSelection).toEqual({ kind: 'single', streamName: 'orders' });
    expect(resolveWorkerOptions({ ...noStream, streams: ['orders', 'refunds'] })).toMatchObject({
      streamName: undefined,
      streamSelection: { kind: 'list', streamNames: ['orders', 'refunds'] },
      streamRefreshIntervalMs: 60_000,
    });
    const fromSource = resolveWorkerOptions({ ...noStream, streamPattern: 'orders-.*' }).streamSelection;
    expect(fromSource).toMatchObject({ kind: 'pattern' });
    expect(fromSource.kind === 'pattern' && fromSource.pattern.source).toBe('orders-.*');
  });

  it('asks for a stream when none is given, and for one choice when several are', () => {
    expect(rejectionOf(noStream).issues).toEqual([
      'streamName: is required: give the stream to consume (or `streams`, a list, or `streamPattern`)',
    ]);
    expect(rejectionOf({ ...required, streams: ['refunds'] }).issues).toEqual([
      'streams: give only one of streamName, streams and streamPattern; got streamName and streams',
    ]);
  });

  it('names a bad stream list or pattern', () => {
    expect(rejectionOf({ ...noStream, streams: [] }).issues).toEqual(['streams: must name at least one stream']);
    expect(rejectionOf({ ...noStream, streams: ['a', 'a'] }).issues).toEqual(['streams: must not name a stream twice']);
    expect(rejectionOf({ ...noStream, streams: ['ok', 'not ok'] }).issues).toEqual([
      'streams.1: may contain only letters, digits, "_", "." and "-"',
    ]);
    expect(rejectionOf({ ...noStream, streamPattern: '(' }).issues[0]).toMatch(/^streamPattern: is not a valid regular expression: /);
    expect(rejectionOf({ ...noStream, streamPattern: 42 }).issues).toEqual([
      'streamPattern: must be a RegExp or a regular expression source; got 42',
    ]);
  });

  it('refuses a coordination bus of another fleet', () => {
    const bus = {
      application: 'billing',
      streamName: 'refunds',
      publish() {},
      onEvent() {},
      publishPlan() {},
      onPlans() {},
      requestLiveness() {},
      serveLiveness() {},
    };
    expect(rejectionOf({ ...required, coordinationBus: bus }).issues).toEqual([
      'coordinationBus: serves application billing, stream refunds, but this worker is application billing, stream orders: give the bus the same application and streamName (none when the worker consumes several streams)',
    ]);
    expect(rejectionOf({ ...noStream, streams: ['orders'], coordinationBus: { ...bus, streamName: 'orders' } }).issues[0]).toMatch(
      /^coordinationBus: serves application billing, stream orders, but this worker is application billing, several streams/,
    );
  });
});
