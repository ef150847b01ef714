import type { FetchResult } from './fetch-result.js';

/** How much a {@link FetchBuffer} holds before its producer waits. */
export interface FetchBufferLimits {
  readonly maxRecords: number;
  readonly maxBytes: number;
}

/**
 * The bounded hand-over between a record source's read loop (the producer) and the shard
 * consumer (the consumer): results in shard order, the producer waiting while the records or
 * bytes buffered reach their limit, the consumer waiting while nothing is buffered. A failure of
 * the read loop reaches the consumer once what was buffered before it is taken.
 */
export class FetchBuffer {
  private readonly results: FetchResult[] = [];
  private records = 0;
  private bytes = 0;
  private failure: { readonly error: unknown } | undefined;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(private readonly limits: FetchBufferLimits) {}

  get isEmpty(): boolean {
    return this.results.length === 0;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** The oldest result, left in place. */
  peek(): FetchResult | undefined {
    return this.results[0];
  }

  push(result: FetchResult): void {
    this.results.push(result);
    if (result.type === 'records') {
      this.records += result.records.length;
      this.bytes += result.bytes;
    }
    this.wakeConsumer?.();
  }

  /** The read loop stopped with `error`: `next()` throws it once the buffer is empty. */
  fail(error: unknown): void {
    this.failure ??= { error };
    this.wakeConsumer?.();
  }

  /** The next result in shard order; waits while nothing is buffered. */
  async next(signal?: AbortSignal): Promise<FetchResult> {
    for (;;) {
      const result = this.results.shift();
      if (result) {
        if (result.type === 'records') {
          this.records -= result.records.length;
          this.bytes -= result.bytes;
        }
        this.wakeProducer?.();
        return result;
      }
      if (this.failure) throw this.failure.error;
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = () => {
          this.wakeConsumer = undefined;
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.wakeConsumer = done;
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** Waits while the buffer is full, until the consumer takes something or `signal` aborts. */
  async waitForRoom(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && (this.records >= this.limits.maxRecords || this.bytes >= this.limits.maxBytes)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.wakeProducer = undefined;
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.wakeProducer = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}
