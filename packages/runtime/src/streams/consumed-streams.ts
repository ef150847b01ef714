import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listStreams, newLeaseKey, type Lease, type Logger } from '@shoal/coordinator';

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

  constructor(private readonly options: ConsumedStreamsOptions) {
    const { selection } = options;
    this.qualified = selection.kind !== 'single';
    this.current = new Set(selection.kind === 'single' ? [selection.streamName] : selection.kind === 'list' ? selection.streamNames : []);
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

  /** The stream a lease belongs to; undefined for a row that names none where one is needed. */
  streamOf(lease: Pick<Lease, 'streamName'>): string | undefined {
    return this.qualified ? lease.streamName : (lease.streamName ?? this.singleStream);
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
   * Lists the account's streams again (a pattern only) and reports what changed. A failed
   * listing throws and leaves the set as it was.
   */
  async refresh(signal?: AbortSignal): Promise<StreamChange> {
    const { selection, kinesis, requestTimeoutMs, logger } = this.options;
    if (selection.kind !== 'pattern') return { added: [], removed: [] };
    const names = await listStreams(kinesis, { signal, requestTimeoutMs });
    const matching = new Set(names.filter((name) => fullMatch(selection.pattern, name)));
    const added = [...matching].filter((name) => !this.current.has(name));
    const removed = [...this.current].filter((name) => !matching.has(name));
    this.current = matching;
    if (added.length > 0 || removed.length > 0) {
      logger.info({ pattern: selection.pattern.source, added, removed, streams: matching.size }, 'consumed streams changed');
    }
    return { added, removed };
  }
}

/** Whether the whole name matches (a pattern `orders-.*` does not take `old-orders-eu`). */
function fullMatch(pattern: RegExp, name: string): boolean {
  return new RegExp(`^(?:${pattern.source})$`, pattern.flags.replace(/[gy]/gu, '')).test(name);
}
