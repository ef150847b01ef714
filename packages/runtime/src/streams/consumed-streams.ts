import { setTimeout as sleep } from 'node:timers/promises';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { RequestTimeoutError, listStreams, newLeaseKey, type Lease, type Logger } from '@shoal/coordinator';

/** How long a worker keeps trying to list the account's streams at start before it gives up. */
const START_LISTING_BUDGET_MS = 60_000;
const START_RETRY_BASE_MS = 500;
const START_RETRY_MAX_MS = 5_000;

/** Which streams an application consumes: one, a fixed list, or every stream whose name matches. */
export type StreamSelection =
  | { readonly kind: 'single'; readonly streamName: string }
  | { readonly kind: 'list'; readonly streamNames: readonly string[] }
  | { readonly kind: 'pattern'; readonly pattern: RegExp };

/** A shard of one of the consumed streams. */
export interface ShardRef {
  readonly streamName: string;
  readonly shardId: string;
}

export interface StreamChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

export interface ConsumedStreamsOptions {
  readonly selection: StreamSelection;
  readonly kinesis: KinesisClient;
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
}

/**
 * The streams this worker consumes now, and how a lease maps to its stream. A single stream's
 * leases are keyed by shard id (the namespace names the stream); with several streams each lease
 * names its stream and is keyed `<stream>:<shardId>`. A pattern is matched against the account's
 * stream list at start and on every `refresh()`; a list or a single stream never changes.
 */
export class ConsumedStreams {
  /** Whether lease keys name their stream (the application consumes several streams). */
  readonly qualified: boolean;
  private current: ReadonlySet<string>;
  /** A pattern's whole-name matcher. */
  private readonly matcher: RegExp | undefined;

  constructor(private readonly options: ConsumedStreamsOptions) {
    const { selection } = options;
    this.qualified = selection.kind !== 'single';
    this.current = new Set(selection.kind === 'single' ? [selection.streamName] : selection.kind === 'list' ? selection.streamNames : []);
    this.matcher = selection.kind === 'pattern' ? wholeNamePattern(selection.pattern) : undefined;
  }

  /** Whether this worker's choice names the stream (in its list, or matching its pattern), whether it exists or not. */
  selects(streamName: string): boolean {
    const { selection } = this.options;
    if (selection.kind === 'pattern') return this.matcher!.test(streamName);
    return selection.kind === 'list' ? selection.streamNames.includes(streamName) : selection.streamName === streamName;
  }

  /** Whether `refresh()` may change the set (a pattern). */
  get refreshes(): boolean {
    return this.options.selection.kind === 'pattern';
  }

  /** The single stream of a single-stream application; undefined for one that consumes several. */
  get singleStream(): string | undefined {
    const { selection } = this.options;
    return selection.kind === 'single' ? selection.streamName : undefined;
  }

  names(): readonly string[] {
    return [...this.current];
  }

  has(streamName: string): boolean {
    return this.current.has(streamName);
  }

  /**
   * The stream a lease belongs to. Undefined for a row that does not fit the namespace: one
   * naming no stream where keys are qualified, or one naming a stream where they are not (it
   * would be a second lease of a shard the unqualified row already covers).
   */
  streamOf(lease: Pick<Lease, 'streamName'>): string | undefined {
    return this.qualified ? lease.streamName : lease.streamName === undefined ? this.singleStream : undefined;
  }

  /** Whether this worker processes the lease: its stream is one it consumes now. */
  consumes(lease: Pick<Lease, 'streamName'>): boolean {
    const streamName = this.streamOf(lease);
    return streamName !== undefined && this.current.has(streamName);
  }

  /** The fields a new lease of `streamName` carries to be keyed by its stream. */
  leaseScope(streamName: string): { readonly streamName?: string } {
    return this.qualified ? { streamName } : {};
  }

  /** The shard a lease key names, if its stream is consumed here (a bus message names a lease by key). */
  shardOfLeaseKey(leaseKey: string, shardId: string): ShardRef | undefined {
    for (const streamName of this.current) {
      if (newLeaseKey({ shardId, ...this.leaseScope(streamName) }) === leaseKey) return { streamName, shardId };
    }
    return undefined;
  }

  /**
   * The first listing, at start (a pattern only). ListStreams allows 5 calls a second per
   * account, shared with everything else in it, so a fleet starting at once may be throttled:
   * throttling, timeouts and server errors are retried with jittered backoff for up to a minute;
   * anything else (no permission, say) fails the start at once.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const startedAt = Date.now();
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.refresh(signal);
        return;
      } catch (error) {
        if (!isTransient(error) || Date.now() - startedAt > START_LISTING_BUDGET_MS || signal?.aborted) throw error;
        const delayMs = Math.min(START_RETRY_MAX_MS, START_RETRY_BASE_MS * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
        this.options.logger.warn(
          { err: error, attempt, delayMs: Math.round(delayMs) },
          'could not list the streams to consume yet; trying again',
        );
        await sleep(delayMs, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /**
   * Lists the account's streams again (a pattern only) and reports what changed. A failed
   * listing throws and leaves the set as it was.
   */
  async refresh(signal?: AbortSignal): Promise<StreamChange> {
    const { selection, kinesis, requestTimeoutMs, logger } = this.options;
    if (selection.kind !== 'pattern') return { added: [], removed: [] };
    const names = await listStreams(kinesis, { signal, requestTimeoutMs });
    const matching = new Set(names.filter((name) => this.selects(name)));
    const added = [...matching].filter((name) => !this.current.has(name));
    const removed = [...this.current].filter((name) => !matching.has(name));
    this.current = matching;
    if (added.length > 0 || removed.length > 0) {
      logger.info({ pattern: selection.pattern.source, added, removed, streams: matching.size }, 'consumed streams changed');
    }
    return { added, removed };
  }
}

/** The pattern matched against the whole name, so `orders-.*` does not take `old-orders-eu`. */
function wholeNamePattern(pattern: RegExp): RegExp {
  return new RegExp(`^(?:${pattern.source})$`, pattern.flags.replace(/[gy]/gu, ''));
}

const TRANSIENT = new Set(['LimitExceededException', 'ThrottlingException', 'ServiceUnavailable', 'InternalFailure']);

/** Whether waiting may cure a failed call: throttling, a timeout, a server error. */
function isTransient(error: unknown): boolean {
  if (error instanceof RequestTimeoutError) return true;
  const details = error as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } } | undefined;
  return TRANSIENT.has(details?.name ?? '') || details?.$retryable !== undefined || (details?.$metadata?.httpStatusCode ?? 0) >= 500;
}
