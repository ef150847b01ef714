import {
  LeaseLostError,
  compareExtendedSequenceNumbers,
  type Checkpoint,
  type ExtendedSequenceNumber,
  type HeldLease,
  type InitializationInput,
  type LeaseLostInput,
  type KinesisRecord,
  type ProcessRecordsInput,
  type ShardEndedInput,
  type ShardRecordProcessor,
  type ShutdownRequestedInput,
} from '@shoal/processor-sdk';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { FetchResult, StartingPosition } from '../src/consumer/get-records-fetcher.js';
import { ShardCheckpointer } from '../src/consumer/shard-checkpointer.js';
import { ShardConsumer, type RecordSource, type ShardConsumerEvent } from '../src/consumer/shard-consumer.js';
import { LeaseHold } from '../src/consumer/lease-hold.js';
import { RecordingClock } from './fakes/fake-clock.js';
import { FakeLiveness } from './fakes/fake-liveness.js';
import { InMemoryLeaseStore } from './fakes/fake-lease-store.js';
import { ownershipOf, sequenceCheckpoint, sequenceNumber, testLease, userRecord } from './fakes/records.js';

const BACKOFF = { baseMs: 100, maxMs: 10_000 };

/** One step a fake source plays: a fetch result, or an error its `next()` rejects with. */
type SourceStep = FetchResult | Error;

function batch(...positions: number[]): FetchResult {
  const records = positions.map((n) => userRecord(n));
  return { type: 'records', records, millisBehindLatest: 1_000 * positions.length, bytes: 10 * positions.length };
}

function shardEnd(...childShardIds: string[]): FetchResult {
  return { type: 'shard-end', childShardIds };
}

/** `r3,r4` for records 3 and 4: the last digits of their sequence numbers. */
function ids(records: readonly KinesisRecord[]): string {
  return records.map((record) => `r${Number(record.sequenceNumber.slice(-10))}`).join(',');
}

/** A record source that plays its steps in order, then waits (until aborted) for more. */
class ScriptedRecordSource implements RecordSource {
  started = false;
  stopped = false;
  /** What a drain's read of the shard's tip finds (once); a promise to answer it when the test says. */
  tail: FetchResult | Promise<FetchResult> | undefined;
  tailReads = 0;
  private wake: (() => void) | undefined;

  constructor(
    readonly position: StartingPosition,
    private readonly steps: SourceStep[],
  ) {}

  start(): void {
    this.started = true;
  }

  async next(signal?: AbortSignal): Promise<FetchResult> {
    for (;;) {
      const step = this.steps.shift();
      if (step instanceof Error) throw step;
      if (step) return step;
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = () => {
          this.wake = undefined;
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.wake = done;
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  async readTail(): Promise<FetchResult | undefined> {
    this.tailReads += 1;
    const tail = this.tail;
    this.tail = undefined;
    return tail;
  }

  push(step: SourceStep): void {
    this.steps.push(step);
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}

/**
 * A processor that logs every call. By default it handles each batch, then checkpoints it;
 * `shardEnded` and `shutdownRequested` checkpoint. Hooks let a test make a call wait or throw.
 */
class RecordingProcessor implements ShardRecordProcessor {
  readonly calls: string[] = [];
  /** The last record of the last batch this processor handled completely. */
  lastFullyProcessed: ExtendedSequenceNumber | undefined;
  checkpointEachBatch = true;
  onInitialize: (input: InitializationInput) => Promise<void> | void = () => {};
  /** Runs before a batch counts as handled; throwing here fails the batch. */
  onProcess: (input: ProcessRecordsInput) => Promise<void> | void = () => {};
  onShardEnded: (input: ShardEndedInput) => Promise<void> | void = ({ checkpointer }) => checkpointer.checkpoint();
  onShutdownRequested: (input: ShutdownRequestedInput) => Promise<void> | void = ({ checkpointer }) => checkpointer.checkpoint();

  async initialize(input: InitializationInput): Promise<void> {
    this.calls.push('initialize');
    await this.onInitialize(input);
  }

  async processRecords(input: ProcessRecordsInput): Promise<void> {
    this.calls.push(`processRecords ${ids(input.records)}`);
    await this.onProcess(input);
    this.lastFullyProcessed = input.records[input.records.length - 1];
    if (this.checkpointEachBatch) await input.checkpointer.checkpoint();
  }

  leaseLost(): void {
    this.calls.push('leaseLost');
  }

  async shardEnded(input: ShardEndedInput): Promise<void> {
    this.calls.push(`shardEnded ${input.childShardIds.join(',')}`);
    await this.onShardEnded(input);
  }

  async shutdownRequested(input: ShutdownRequestedInput): Promise<void> {
    this.calls.push(`shutdownRequested ${input.reason}`);
    await this.onShutdownRequested(input);
  }
}

class Gate {
  open!: () => void;
  readonly opened = new Promise<void>((resolve) => {
    this.open = resolve;
  });
}

interface ConsumerSetup {
  /** Each call to `createSource` gets the next script; later calls get empty sources. */
  readonly scripts: SourceStep[][];
  readonly checkpoint?: Checkpoint;
  readonly liveness?: FakeLiveness;
  /** What the first source's `readTail` finds. */
  readonly tail?: FetchResult | Promise<FetchResult>;
}

const ABORT_GRACE_MS = 500;

function setUpConsumer({ scripts, checkpoint = { type: 'TRIM_HORIZON' }, liveness = new FakeLiveness(), tail }: ConsumerSetup) {
  const lease = testLease({ leaseOwner: 'worker-a', leaseCounter: 3, checkpoint });
  const store = new InMemoryLeaseStore(lease);
  const processor = new RecordingProcessor();
  const clock = new RecordingClock();
  const events: ShardConsumerEvent[] = [];
  const sources: ScriptedRecordSource[] = [];
  const createSource = vi.fn((position: StartingPosition): RecordSource => {
    const source = new ScriptedRecordSource(position, scripts[sources.length] ?? []);
    if (sources.length === 0) source.tail = tail;
    sources.push(source);
    return source;
  });
  // The checkpoint may never pass the records the processor finished: checked at every write.
  const checkpointsPastProcessed: Checkpoint[] = [];
  store.beforeWrite = (written) => {
    if (written.type !== 'SEQUENCE') return;
    const processed = processor.lastFullyProcessed;
    if (!processed || compareExtendedSequenceNumbers(written.position, processed) > 0) checkpointsPastProcessed.push(written);
  };
  const hold = new LeaseHold(ownershipOf(lease), liveness);
  const checkpointer = new ShardCheckpointer({
    store,
    ownership: ownershipOf(lease),
    checkpoint,
    writeRefusal: () => hold.writeRefusal(),
    stopSignal: () => hold.openCall(),
  });
  const logs: { level: string; msg: string }[] = [];
  const consumer = new ShardConsumer({
    context: { streamName: 'unit-stream', shardId: lease.shardId, leaseKey: lease.leaseKey, workerId: 'worker-a' },
    processor,
    checkpointer,
    createSource,
    hold,
    abortGraceMs: ABORT_GRACE_MS,
    backoff: BACKOFF,
    clock,
    logger: recordingLogger(logs),
    onEvent: (event) => events.push(event),
  });
  return { consumer, processor, store, checkpointer, clock, events, sources, createSource, checkpointsPastProcessed, liveness, hold, logs };
}

/** A pino logger whose lines land in `logs` (level name and message). */
function recordingLogger(logs: { level: string; msg: string }[]) {
  return pino(
    { level: 'debug', formatters: { level: (label) => ({ level: label }) } },
    { write: (line: string) => void logs.push(JSON.parse(line) as { level: string; msg: string }) },
  );
}

async function until(condition: () => boolean): Promise<void> {
  await vi.waitFor(
    () => {
      if (!condition()) throw new Error('condition not reached yet');
    },
    { timeout: 5_000, interval: 2 },
  );
}

describe('ShardConsumer: delivering records', () => {
  it('initializes, delivers every batch in order, and lets the batch in hand finish on a requested shutdown', async () => {
    const { consumer, processor, store, events, sources } = setUpConsumer({ scripts: [[batch(1, 2), batch(3), batch(4, 5)]] });
    processor.checkpointEachBatch = false;
    const inHand = new Gate();
    const inside = new Gate();
    processor.onProcess = async ({ records }) => {
      if (ids(records) === 'r3') {
        inside.open();
        await inHand.opened;
      }
    };

    const exit = consumer.run();
    await inside.opened;
    consumer.requestShutdown('requested', 'handoff');
    expect(processor.calls.at(-1)).toBe('processRecords r3');
    inHand.open();

    await expect(exit).resolves.toBe('requested');
    expect(processor.calls).toEqual(['initialize', 'processRecords r1,r2', 'processRecords r3', 'shutdownRequested handoff']);
    // shutdownRequested's bare checkpoint() is the last record processed, not the buffered r4,r5.
    expect(store.written).toEqual([sequenceCheckpoint(3)]);
    expect(events[0]).toEqual({ type: 'CONSUMER.PROCESSING' });
    expect(sources[0]?.started).toBe(true);
    expect(sources[0]?.stopped).toBe(true);
  });

  it('passes each batch with millisBehindLatest and the shard context', async () => {
    const { consumer, processor } = setUpConsumer({ scripts: [[batch(1, 2)]] });
    const seen: ProcessRecordsInput[] = [];
    processor.onProcess = (input) => {
      seen.push(input);
      consumer.requestShutdown('requested');
    };
    await expect(consumer.run()).resolves.toBe('requested');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ streamName: 'unit-stream', workerId: 'worker-a', millisBehindLatest: 2_000 });
    expect(ids(seen[0]!.records)).toBe('r1,r2');
  });

  it('starts reading after the stored checkpoint and tells initialize where it resumes', async () => {
    const { consumer, processor, createSource } = setUpConsumer({ scripts: [[batch(8)]], checkpoint: sequenceCheckpoint(7) });
    const initialized: Checkpoint[] = [];
    processor.onInitialize = ({ checkpoint }) => {
      initialized.push(checkpoint);
    };
    processor.onProcess = () => consumer.requestShutdown('requested');
    await consumer.run();
    expect(initialized).toEqual([sequenceCheckpoint(7)]);
    expect(createSource).toHaveBeenCalledWith({
      type: 'AFTER_CHECKPOINT',
      checkpoint: { sequenceNumber: sequenceNumber(7), subSequenceNumber: 0 },
    });
  });

  it('lets shutdownRequested checkpoint() without arguments after a batch that checkpointed part of itself and threw', async () => {
    const { consumer, processor, store } = setUpConsumer({ scripts: [[batch(1, 2), batch(3, 4, 5)]] });
    const finalCheckpoint: unknown[] = [];
    processor.onProcess = async ({ records, checkpointer }) => {
      if (ids(records) !== 'r3,r4,r5') return;
      await checkpointer.checkpoint(records[1]!);
      // The shutdown arrives while the batch fails: it is not delivered again.
      consumer.requestShutdown('requested', 'handoff');
      throw new Error('r5 failed');
    };
    processor.onShutdownRequested = async ({ checkpointer }) => {
      await checkpointer.checkpoint().then(
        () => finalCheckpoint.push('ok'),
        (error: unknown) => finalCheckpoint.push(error),
      );
    };

    await expect(consumer.run()).resolves.toBe('requested');
    // The end of the last whole batch (r2) lies behind the processor's own checkpoint (r4): a no-op.
    expect(finalCheckpoint).toEqual(['ok']);
    expect(store.written).toEqual([sequenceCheckpoint(2), sequenceCheckpoint(4)]);
  });

  it('delivers a failed batch again after growing backoff, never checkpointing past what was processed', async () => {
    const { consumer, processor, store, clock, events, checkpointsPastProcessed } = setUpConsumer({
      scripts: [[batch(1, 2), batch(3, 4), batch(5)]],
    });
    let failures = 0;
    processor.onProcess = ({ records }) => {
      if (ids(records) === 'r3,r4' && failures < 2) {
        failures += 1;
        throw new Error(`downstream unavailable (${failures})`);
      }
      if (ids(records) === 'r5') consumer.requestShutdown('requested');
    };

    await expect(consumer.run()).resolves.toBe('requested');
    expect(processor.calls).toEqual([
      'initialize',
      'processRecords r1,r2',
      'processRecords r3,r4',
      'processRecords r3,r4',
      'processRecords r3,r4',
      'processRecords r5',
      'shutdownRequested worker-shutdown',
    ]);
    expect(checkpointsPastProcessed).toEqual([]);
    expect(store.written).toEqual([sequenceCheckpoint(2), sequenceCheckpoint(4), sequenceCheckpoint(5)]);

    // Full-jitter exponential backoff: attempt n waits within [base·2^(n-1)/2, base·2^(n-1)].
    expect(clock.sleeps).toHaveLength(2);
    const [first, second] = clock.sleeps as [number, number];
    expect(first).toBeGreaterThanOrEqual(50);
    expect(first).toBeLessThanOrEqual(100);
    expect(second).toBeGreaterThanOrEqual(100);
    expect(second).toBeLessThanOrEqual(200);
    expect(second).toBeGreaterThanOrEqual(first);
    expect(events).toEqual([
      { type: 'CONSUMER.PROCESSING' },
      { type: 'CONSUMER.BACKOFF', error: 'downstream unavailable (1)', delayMs: first },
      { type: 'CONSUMER.BACKOFF', error: 'downstream unavailable (2)', delayMs: second },
      { type: 'CONSUMER.PROCESSING' },
    ]);
  });

  it('retries initialize until it succeeds before delivering anything', async () => {
    const { consumer, processor, clock, events } = setUpConsumer({ scripts: [[batch(1)]] });
    let failures = 0;
    processor.onInitialize = () => {
      if (failures < 2) {
        failures += 1;
        throw new Error('cache not warm');
      }
    };
    processor.onProcess = () => consumer.requestShutdown('requested');

    await expect(consumer.run()).resolves.toBe('requested');
    expect(processor.calls).toEqual(['initialize', 'initialize', 'initialize', 'processRecords r1', 'shutdownRequested worker-shutdown']);
    expect(clock.sleeps).toHaveLength(2);
    expect(events.map((event) => event.type)).toEqual(['CONSUMER.BACKOFF', 'CONSUMER.BACKOFF', 'CONSUMER.PROCESSING']);
  });

  it('reopens a failed record source from the last record processed', async () => {
    const { consumer, processor, createSource, sources, clock, events } = setUpConsumer({
      scripts: [[batch(1, 2), new Error('stream is being deleted')], [batch(3)]],
    });
    processor.onProcess = ({ records }) => {
      if (ids(records) === 'r3') consumer.requestShutdown('requested');
    };

    await expect(consumer.run()).resolves.toBe('requested');
    expect(processor.calls).toEqual(['initialize', 'processRecords r1,r2', 'processRecords r3', 'shutdownRequested worker-shutdown']);
    expect(createSource).toHaveBeenCalledTimes(2);
    expect(createSource.mock.calls[0]?.[0]).toEqual({ type: 'TRIM_HORIZON' });
    expect(createSource.mock.calls[1]?.[0]).toEqual({
      type: 'AFTER_CHECKPOINT',
      checkpoint: expect.objectContaining({ sequenceNumber: userRecord(2).sequenceNumber, subSequenceNumber: 0 }),
    });
    expect(sources.map((source) => source.stopped)).toEqual([true, true]);
    expect(clock.sleeps).toHaveLength(1);
    expect(events).toContainEqual(expect.objectContaining({ type: 'CONSUMER.BACKOFF', error: 'stream is being deleted' }));
  });
});

describe('ShardConsumer: shard end', () => {
  it('calls shardEnded with the child shards, and its bare checkpoint() writes SHARD_END', async () => {
    const { consumer, processor, store, checkpointer, sources } = setUpConsumer({
      scripts: [[batch(1, 2), shardEnd('shardId-000000000010', 'shardId-000000000011')]],
    });
    await expect(consumer.run()).resolves.toBe('shard-end');
    expect(processor.calls).toEqual(['initialize', 'processRecords r1,r2', 'shardEnded shardId-000000000010,shardId-000000000011']);
    expect(store.written).toEqual([sequenceCheckpoint(2), { type: 'SHARD_END' }]);
    expect(checkpointer.checkpointed).toEqual({ type: 'SHARD_END' });
    expect(sources[0]?.stopped).toBe(true);
  });

  it('calls shardEnded again after a backoff until the processor checkpoints SHARD_END', async () => {
    const { consumer, processor, store, clock, events } = setUpConsumer({ scripts: [[batch(1), shardEnd()]] });
    let endings = 0;
    processor.onShardEnded = async ({ checkpointer }) => {
      endings += 1;
      if (endings > 1) await checkpointer.checkpoint();
    };
    await expect(consumer.run()).resolves.toBe('shard-end');
    expect(processor.calls.filter((call) => call.startsWith('shardEnded'))).toHaveLength(2);
    expect(store.written.at(-1)).toEqual({ type: 'SHARD_END' });
    expect(clock.sleeps).toHaveLength(1);
    expect(events).toContainEqual(expect.objectContaining({ type: 'CONSUMER.BACKOFF', error: expect.stringMatching(/SHARD_END/) }));
  });

  it('finishes the shard even when a shutdown is requested during shardEnded', async () => {
    const { consumer, processor } = setUpConsumer({ scripts: [[batch(1), shardEnd()]] });
    processor.onShardEnded = async ({ checkpointer }) => {
      consumer.requestShutdown('requested', 'handoff');
      await checkpointer.checkpoint();
    };
    await expect(consumer.run()).resolves.toBe('shard-end');
    expect(processor.calls).not.toContain('shutdownRequested handoff');
  });

  it('goes straight to shardEnded for a lease already at SHARD_END', async () => {
    const { consumer, processor, createSource } = setUpConsumer({ scripts: [], checkpoint: { type: 'SHARD_END' } });
    await expect(consumer.run()).resolves.toBe('shard-end');
    expect(processor.calls).toEqual(['shardEnded ']);
    expect(createSource).not.toHaveBeenCalled();
  });
});

describe('ShardConsumer: losing the lease', () => {
  it('stops with lease-lost when a checkpoint is fenced, and never calls shutdownRequested', async () => {
    const { consumer, processor, store } = setUpConsumer({ scripts: [[batch(1), batch(2), batch(3)]] });
    processor.onProcess = ({ records }) => {
      if (ids(records) === 'r2') store.moveToAnotherOwner();
    };
    await expect(consumer.run()).resolves.toBe('lease-lost');
    expect(processor.calls).toEqual(['initialize', 'processRecords r1', 'processRecords r2', 'leaseLost']);
    expect(store.written).toEqual([sequenceCheckpoint(1)]);
  });

  it('stops with lease-lost even when the processor swallows the LeaseLostError', async () => {
    const { consumer, processor, store, checkpointer } = setUpConsumer({ scripts: [[batch(1), batch(2), batch(3), shardEnd()]] });
    processor.checkpointEachBatch = false;
    processor.onProcess = async ({ records }) => {
      if (ids(records) !== 'r2') return;
      store.moveToAnotherOwner();
      try {
        await checkpointer.checkpoint();
      } catch (error) {
        if (!(error instanceof LeaseLostError)) throw error;
      }
    };
    await expect(consumer.run()).resolves.toBe('lease-lost');
    expect(processor.calls).toEqual(['initialize', 'processRecords r1', 'processRecords r2', 'leaseLost']);
  });

  it('holds the next batch while the worker is fenced and stops with lease-lost when told so', async () => {
    const { consumer, processor, liveness } = setUpConsumer({ scripts: [[batch(1), batch(2)]] });
    processor.onProcess = () => {
      liveness.fence();
      setTimeout(() => consumer.requestShutdown('lease-lost'), 60);
    };
    await expect(consumer.run()).resolves.toBe('lease-lost');
    expect(processor.calls).toEqual(['initialize', 'processRecords r1', 'leaseLost']);
  });

  it('delivers the held batch once liveness is confirmed again', async () => {
    const { consumer, processor, liveness } = setUpConsumer({ scripts: [[batch(1), batch(2)]] });
    processor.onProcess = () => {
      if (processor.calls.length === 2) {
        liveness.fence();
        setTimeout(() => liveness.confirm(), 60);
      }
    };
    const exit = consumer.run();
    await vi.waitFor(() => expect(processor.calls).toContain('processRecords r2'));
    consumer.requestShutdown('requested');
    await expect(exit).resolves.toBe('requested');
  });

  it.each([
    ['requested then lease-lost', ['requested', 'lease-lost'] as const],
    ['lease-lost then requested', ['lease-lost', 'requested'] as const],
  ])('ranks a lost lease above a requested shutdown (%s)', async (_, order) => {
    const { consumer, processor } = setUpConsumer({ scripts: [[batch(1), batch(2)]] });
    const inHand = new Gate();
    const inside = new Gate();
    processor.onProcess = async () => {
      inside.open();
      await inHand.opened;
    };
    const exit = consumer.run();
    await inside.opened;
    for (const reason of order) consumer.requestShutdown(reason);
    inHand.open();

    await expect(exit).resolves.toBe('lease-lost');
    expect(processor.calls).toEqual(['initialize', 'processRecords r1', 'leaseLost']);
  });
});

describe('ShardConsumer: abort', () => {
  it('stops without further processor calls once the batch in hand returns', async () => {
    const { consumer, processor, sources } = setUpConsumer({ scripts: [[batch(1), batch(2)]] });
    const inHand = new Gate();
    const inside = new Gate();
    processor.onProcess = async () => {
      inside.open();
      await inHand.opened;
    };
    const exit = consumer.run();
    await inside.opened;
    consumer.abort();
    inHand.open();

    await expect(exit).resolves.toBe('requested');
    expect(processor.calls).toEqual(['initialize', 'processRecords r1']);
    expect(sources[0]?.stopped).toBe(true);
  });

  it('stops while waiting for records, keeping the more important reason it was given', async () => {
    const { consumer, processor, sources } = setUpConsumer({ scripts: [[batch(1)]] });
    const exit = consumer.run();
    await until(() => processor.calls.includes('processRecords r1'));
    consumer.requestShutdown('lease-lost');
    consumer.abort();
    await expect(exit).resolves.toBe('lease-lost');
    expect(processor.calls).toEqual(['initialize', 'processRecords r1']);
    expect(sources[0]?.stopped).toBe(true);
  });

  it('stops while waiting for records when nothing else happened', async () => {
    const { consumer, processor } = setUpConsumer({ scripts: [[]] });
    const exit = consumer.run();
    await until(() => processor.calls.includes('initialize'));
    consumer.abort();
    await expect(exit).resolves.toBe('requested');
    expect(processor.calls).toEqual(['initialize']);
  });
});

describe('ShardConsumer: the lease each call runs under', () => {
  it('gives every call the lease, its fencing token and a live signal', async () => {
    const { consumer, processor } = setUpConsumer({ scripts: [[batch(1)]] });
    const seen: { name: string; owner: string; leaseCounter: number; valid: boolean; aborted: boolean; same: boolean }[] = [];
    const note = (name: string, input: { lease: HeldLease; signal: AbortSignal }) =>
      seen.push({
        name,
        owner: input.lease.owner,
        leaseCounter: input.lease.leaseCounter,
        valid: input.lease.isValid(),
        aborted: input.signal.aborted,
        same: input.signal === input.lease.signal,
      });
    processor.onInitialize = (input) => void note('initialize', input);
    processor.onProcess = (input) => {
      note('processRecords', input);
      consumer.requestShutdown('requested');
    };
    processor.onShutdownRequested = (input) => void note('shutdownRequested', input);
    await consumer.run();
    expect(seen).toEqual(
      ['initialize', 'processRecords', 'shutdownRequested'].map((name) => ({
        name,
        owner: 'worker-a',
        leaseCounter: 3,
        valid: true,
        aborted: false,
        same: true,
      })),
    );
  });

  it('aborts the batch in flight the moment liveness lapses, and delivers it again once confirmed, without backoff', async () => {
    const { consumer, processor, liveness, events, store } = setUpConsumer({ scripts: [[batch(1, 2, 3), batch(4)]] });
    processor.checkpointEachBatch = false;
    const observed: string[] = [];
    let first = true;
    processor.onProcess = async ({ records, lease, signal, checkpointer }) => {
      if (ids(records) === 'r4') {
        consumer.requestShutdown('requested');
        return;
      }
      for (const record of records) {
        lease.throwIfInvalid();
        observed.push(`r${Number(record.sequenceNumber.slice(-10))}`);
        await checkpointer.checkpoint(record);
        if (first) {
          first = false;
          liveness.fence();
          expect(signal.aborted).toBe(true);
          expect(lease.isValid()).toBe(false);
          setTimeout(() => liveness.confirm(), 30);
        }
      }
    };
    await expect(consumer.run()).resolves.toBe('requested');
    // r1 was processed and checkpointed before the lapse; r2 and r3 come again once confirmed.
    expect(observed).toEqual(['r1', 'r2', 'r3']);
    expect(processor.calls).toEqual([
      'initialize',
      'processRecords r1,r2,r3',
      'processRecords r2,r3',
      'processRecords r4',
      'shutdownRequested worker-shutdown',
    ]);
    expect(store.written).toEqual([sequenceCheckpoint(1), sequenceCheckpoint(2), sequenceCheckpoint(3), sequenceCheckpoint(4)]);
    expect(events.filter((event) => event.type === 'CONSUMER.BACKOFF')).toEqual([]);
  });

  it('delivers a batch again when the processor stops on its aborted signal only after liveness was confirmed again', async () => {
    const { consumer, processor, liveness, events } = setUpConsumer({ scripts: [[batch(1, 2), batch(3)]] });
    let lapsed = false;
    processor.onProcess = async ({ records, lease }) => {
      if (ids(records) === 'r3') {
        consumer.requestShutdown('requested');
        return;
      }
      for (const _record of records) {
        lease.throwIfInvalid();
        if (lapsed) continue;
        lapsed = true;
        // The deadline passes during a sink call that ignores the signal (within abortGraceMs);
        // meanwhile the switch to table heartbeats lands and the worker keeps its lease.
        liveness.fence();
        await new Promise((resolve) => setTimeout(resolve, 20));
        liveness.confirm();
      }
    };
    await expect(consumer.run()).resolves.toBe('requested');
    // The call's own signal stays aborted, so its next check throws: the batch comes again, and
    // neither is the lease taken for lost nor the throw for the processor's failure.
    expect(processor.calls).toEqual([
      'initialize',
      'processRecords r1,r2',
      'processRecords r1,r2',
      'processRecords r3',
      'shutdownRequested worker-shutdown',
    ]);
    expect(events.filter((event) => event.type === 'CONSUMER.BACKOFF')).toEqual([]);
  });

  it('refuses a checkpoint after the worker fenced itself, writes nothing, and keeps the lease', async () => {
    const { consumer, processor, liveness, store } = setUpConsumer({ scripts: [[batch(1), batch(2)]] });
    const refused: unknown[] = [];
    let fencedOnce = false;
    processor.onProcess = async ({ records, checkpointer }) => {
      if (ids(records) === 'r2') {
        consumer.requestShutdown('requested');
        return;
      }
      if (fencedOnce) return;
      fencedOnce = true;
      liveness.fence();
      await checkpointer.checkpoint().catch((error: unknown) => refused.push(error));
      setTimeout(() => liveness.confirm(), 30);
      throw refused[0];
    };
    await expect(consumer.run()).resolves.toBe('requested');
    expect(refused).toEqual([expect.any(LeaseLostError)]);
    expect((refused[0] as Error).message).toMatch(/liveness is unconfirmed.*checkpoint refused/);
    // Not a lost lease: once confirmed, r1 is delivered again and checkpointed then.
    expect(processor.calls).toEqual([
      'initialize',
      'processRecords r1',
      'processRecords r1',
      'processRecords r2',
      'shutdownRequested worker-shutdown',
    ]);
    expect(store.written).toEqual([sequenceCheckpoint(1), sequenceCheckpoint(2)]);
  });

  it('logs an error when a call ignores its aborted signal for longer than abortGraceMs', async () => {
    const { consumer, processor, logs, clock } = setUpConsumer({ scripts: [[batch(1)]] });
    const inside = new Gate();
    const release = new Gate();
    processor.onProcess = async () => {
      inside.open();
      await release.opened; // never looks at its signal
    };
    const exit = consumer.run();
    await inside.opened;
    consumer.abort();
    await until(() => logs.some((line) => line.level === 'error' && /ignores the signal/.test(line.msg)));
    expect(clock.sleeps).toContain(ABORT_GRACE_MS);
    release.open();
    await expect(exit).resolves.toBe('requested');
  });

  it('aborts the signal of the call in flight on abort(), and settles only once that call returned', async () => {
    const { consumer, processor, logs } = setUpConsumer({ scripts: [[batch(1), batch(2)]] });
    const inside = new Gate();
    let signalSeen: AbortSignal | undefined;
    let returned = false;
    processor.onProcess = async ({ signal }) => {
      signalSeen = signal;
      inside.open();
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      returned = true;
    };
    const exit = consumer.run();
    await inside.opened;
    consumer.abort();
    await expect(exit).resolves.toBe('requested');
    expect(signalSeen?.aborted).toBe(true);
    expect(returned).toBe(true);
    expect(processor.calls).toEqual(['initialize', 'processRecords r1']);
    expect(logs.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('tells leaseLost that the lease is no longer valid', async () => {
    const { consumer, processor, store } = setUpConsumer({ scripts: [[batch(1)]] });
    const valid: boolean[] = [];
    processor.onProcess = () => store.moveToAnotherOwner();
    processor.leaseLost = (input?: LeaseLostInput) => {
      processor.calls.push('leaseLost');
      valid.push(input!.lease.isValid(), input!.signal.aborted);
    };
    await expect(consumer.run()).resolves.toBe('lease-lost');
    expect(valid).toEqual([false, true]);
  });
});

describe('ShardConsumer: the read of a caught-up shard tip at a graceful drain', () => {
  it('processes the records put since the last poll before shutdownRequested, so they do not wait for the next owner', async () => {
    const { consumer, processor, store, sources, checkpointsPastProcessed } = setUpConsumer({
      scripts: [[batch(1, 2)]],
      tail: batch(3, 4),
    });
    processor.onProcess = ({ records }) => {
      if (ids(records) === 'r1,r2') consumer.requestShutdown('requested', 'handoff');
    };
    await expect(consumer.run()).resolves.toBe('requested');
    expect(processor.calls).toEqual(['initialize', 'processRecords r1,r2', 'processRecords r3,r4', 'shutdownRequested handoff']);
    expect(store.written.at(-1)).toEqual(sequenceCheckpoint(4));
    expect(sources[0]!.tailReads).toBe(1);
    expect(checkpointsPastProcessed).toEqual([]);
  });

  it('reads no tip after a batch that failed: its records would skip the failed one', async () => {
    const { consumer, processor, store, sources, checkpointsPastProcessed } = setUpConsumer({
      scripts: [[batch(1, 2), batch(3)]],
      tail: batch(4),
    });
    processor.onProcess = ({ records }) => {
      if (ids(records) !== 'r3') return;
      consumer.requestShutdown('requested', 'handoff');
      throw new Error('r3 failed');
    };
    await expect(consumer.run()).resolves.toBe('requested');
    expect(processor.calls).not.toContain('processRecords r4');
    expect(sources[0]!.tailReads).toBe(0);
    expect(store.written.at(-1)).toEqual(sequenceCheckpoint(2));
    expect(checkpointsPastProcessed).toEqual([]);
  });

  it('leaves a tip whose processing failed to the next owner: shutdownRequested checkpoints only what was processed', async () => {
    const { consumer, processor, store, checkpointsPastProcessed } = setUpConsumer({ scripts: [[batch(1, 2)]], tail: batch(3, 4) });
    processor.onProcess = ({ records }) => {
      if (ids(records) === 'r1,r2') consumer.requestShutdown('requested', 'handoff');
      if (ids(records) === 'r3,r4') throw new Error('downstream unavailable');
    };
    await expect(consumer.run()).resolves.toBe('requested');
    expect(processor.calls).toEqual(['initialize', 'processRecords r1,r2', 'processRecords r3,r4', 'shutdownRequested handoff']);
    expect(store.written).toEqual([sequenceCheckpoint(2)]);
    expect(checkpointsPastProcessed).toEqual([]);
  });

  it('reads no tip when the lease was lost', async () => {
    const { consumer, processor, sources } = setUpConsumer({ scripts: [[batch(1, 2)]], tail: batch(3) });
    processor.onProcess = () => consumer.requestShutdown('lease-lost');
    await expect(consumer.run()).resolves.toBe('lease-lost');
    expect(sources[0]!.tailReads).toBe(0);
    expect(processor.calls).not.toContain('processRecords r3');
  });

  it('drops the tip when the lease was lost while it was read: the next owner reads those records', async () => {
    let answer!: (result: FetchResult) => void;
    const { consumer, processor, sources } = setUpConsumer({
      scripts: [[batch(1, 2)]],
      tail: new Promise<FetchResult>((resolve) => (answer = resolve)),
    });
    processor.onProcess = ({ records }) => {
      if (ids(records) === 'r1,r2') consumer.requestShutdown('requested', 'handoff');
    };
    const exit = consumer.run();
    await until(() => sources[0]?.tailReads === 1);
    consumer.requestShutdown('lease-lost');
    answer(batch(3, 4));
    await expect(exit).resolves.toBe('lease-lost');
    expect(processor.calls).not.toContain('processRecords r3,r4');
  });
});
