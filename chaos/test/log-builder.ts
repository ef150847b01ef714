import type { BatchOutcome, ChaosEventKind, LifecycleEvent, LogLine } from '../src/index.js';

/**
 * Writes small chaos logs by hand for the checker's tests: each call appends one line, in file
 * order, with times on a clock the test moves.
 */
export class LogBuilder {
  readonly lines: LogLine[] = [];
  private batches = 0;
  private checkpoints = 0;
  private events = 0;
  now = 1_000_000;

  constructor() {
    this.lines.push({ t: 'run', at: this.now, seed: 1, minutes: 1, workers: 2, shards: 1, streamName: 's', applicationName: 'a' });
  }

  at(ms: number): this {
    this.now = ms;
    return this;
  }

  put(shard: string, ...records: [key: string, n: number][]): this {
    this.lines.push({ t: 'put', at: this.now, records: records.map(([key, n]) => [key, n, shard] as const) });
    return this;
  }

  /** One batch of side effects by `worker` under `epoch`. */
  process(worker: string, shard: string, epoch: number, ...records: [key: string, n: number][]): this {
    this.batches += 1;
    for (const [key, n] of records) {
      this.lines.push({ t: 'rec', worker, shard, epoch, batch: this.batches, key, n, seq: `${key}-${n}`, at: this.now });
    }
    return this;
  }

  life(worker: string, shard: string, epoch: number, event: LifecycleEvent): this {
    this.lines.push({ t: 'life', worker, shard, epoch, event, at: this.now });
    return this;
  }

  /** A checkpoint attempt; returns its id for the result. */
  attempt(worker: string, shard: string, epoch: number): string {
    this.checkpoints += 1;
    const id = `${worker}#${this.checkpoints}`;
    this.lines.push({ t: 'cp', worker, shard, epoch, id, phase: 'attempt', seq: '1', at: this.now });
    return id;
  }

  result(id: string, worker: string, shard: string, epoch: number, phase: 'applied' | 'refused' | 'failed'): this {
    this.lines.push({ t: 'cp', worker, shard, epoch, id, phase, seq: '1', at: this.now });
    return this;
  }

  /** An injected event; returns its id. */
  event(kind: ChaosEventKind, target?: string, durationMs?: number, leader?: boolean): number {
    this.events += 1;
    this.lines.push({
      t: 'event',
      id: this.events,
      kind,
      at: this.now,
      ...(target === undefined ? {} : { target }),
      ...(durationMs === undefined ? {} : { durationMs }),
      ...(leader === undefined ? {} : { leader }),
    });
    return this.events;
  }

  /** The batch line closing the last batch `process` wrote. */
  batchEnd(worker: string, shard: string, epoch: number, outcome: BatchOutcome): this {
    this.lines.push({
      t: 'batch',
      worker,
      shard,
      epoch,
      batch: this.batches,
      first: '1',
      last: '2',
      count: 2,
      done: 1,
      start: this.now,
      end: this.now,
      outcome,
    });
    return this;
  }

  eventEnd(id: number): this {
    this.lines.push({ t: 'event-end', id, at: this.now });
    return this;
  }

  end(): LogLine[] {
    this.lines.push({ t: 'end', at: this.now });
    return this.lines;
  }
}
