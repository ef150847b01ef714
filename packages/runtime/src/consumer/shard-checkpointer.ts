import type { LeaseOwnership, LeaseStore } from '@shoal/coordinator';
import {
  InvalidArgumentError,
  InvalidCheckpointError,
  LeaseLostError,
  assertSequenceNumber,
  compareExtendedSequenceNumbers,
  compareSequenceNumbers,
  formatCheckpoint,
  type Checkpoint,
  type Checkpointer,
  type ExtendedSequenceNumber,
  type KinesisRecord,
} from '@shoal/processor-sdk';

/** What a bare `checkpoint()` means in the processor callback it is passed to. */
export type DefaultCheckpointTarget =
  { readonly type: 'position'; readonly position: ExtendedSequenceNumber | undefined } | { readonly type: 'shard-end' };

export interface ShardCheckpointerOptions {
  readonly store: LeaseStore;
  readonly ownership: LeaseOwnership;
  /** The checkpoint the lease had when this ownership began. */
  readonly checkpoint: Checkpoint;
  /** Told of every checkpoint written. */
  readonly onCheckpoint?: (checkpoint: Checkpoint) => void;
  /** Told of every checkpoint refused (the lease is lost, or this worker may not write now). */
  readonly onRefused?: () => void;
  /** Why this worker may not write for the lease now (its liveness lapsed, or it lost the lease); undefined while it may. */
  readonly writeRefusal?: () => string | undefined;
  /**
   * A signal that aborts when work under the lease must stop, for each write (closed after it):
   * the caller stops waiting for a write in flight then, so it can honour its own signal.
   */
  readonly stopSignal?: () => { readonly signal: AbortSignal; close(): void };
}

/**
 * The {@link Checkpointer} handed to processors. Validates the target against what was
 * delivered, writes it fenced on the lease's ownership, and remembers a lost lease so the
 * shard consumer stops even if the processor swallows the error.
 */
export class ShardCheckpointer implements Checkpointer {
  private lastDelivered: ExtendedSequenceNumber | undefined;
  private defaultTarget: DefaultCheckpointTarget = { type: 'position', position: undefined };
  private leaseLost = false;
  /** Checkpoint writes run one at a time, in call order, so an older one never lands last. */
  private writes: Promise<unknown> = Promise.resolve();
  private readonly store: LeaseStore;
  private readonly ownership: LeaseOwnership;
  private current: Checkpoint;

  constructor(private readonly options: ShardCheckpointerOptions) {
    this.store = options.store;
    this.ownership = options.ownership;
    this.current = options.checkpoint;
  }

  get checkpointed(): Checkpoint {
    return this.current;
  }

  get lost(): boolean {
    return this.leaseLost;
  }

  /** Records the upper bound: the position of the last user record handed to the processor. */
  delivered(position: ExtendedSequenceNumber): void {
    this.lastDelivered = { sequenceNumber: position.sequenceNumber, subSequenceNumber: position.subSequenceNumber };
  }

  /** Sets what a bare `checkpoint()` refers to in the callback about to run. */
  setDefaultTarget(target: DefaultCheckpointTarget): void {
    this.defaultTarget = target;
  }

  checkpoint(): Promise<void>;
  checkpoint(record: KinesisRecord): Promise<void>;
  checkpoint(sequenceNumber: string, subSequenceNumber?: number): Promise<void>;
  async checkpoint(target?: KinesisRecord | string, subSequenceNumber?: number): Promise<void> {
    const checkpoint = this.resolveTarget(target, subSequenceNumber);
    if (checkpoint === undefined) return;
    this.refuseIfNotAllowed();
    const write = this.writes.then(() => this.write(checkpoint));
    this.writes = write.catch(() => undefined);
    await this.unlessStopped(write);
  }

  /**
   * Waits for `write`, but no longer than the lease's stop signal: a processor honouring its
   * signal must not be held past `abortGraceMs` by a slow DynamoDB answer. The write itself goes
   * on (fenced, it can only land for this ownership), and later writes still wait for it.
   */
  private async unlessStopped(write: Promise<void>): Promise<void> {
    const stop = this.options.stopSignal?.();
    if (!stop) return write;
    try {
      await Promise.race([
        write,
        new Promise<never>((_, reject) => {
          const abandon = () =>
            reject(new LeaseLostError(`lease ${this.ownership.leaseKey}: work under the lease must stop; checkpoint abandoned`));
          if (stop.signal.aborted) abandon();
          else stop.signal.addEventListener('abort', abandon, { once: true });
        }),
      ]);
    } finally {
      stop.close();
    }
  }

  /**
   * A lost lease refuses for good; past its deadline the worker may be about to lose the lease,
   * so it refuses too, without writing, though not for good: liveness may be confirmed again.
   */
  private refuseIfNotAllowed(): void {
    if (this.leaseLost) {
      this.options.onRefused?.();
      throw this.lostError();
    }
    const refusal = this.options.writeRefusal?.();
    if (refusal !== undefined) {
      this.options.onRefused?.();
      throw new LeaseLostError(`${refusal}; checkpoint refused`);
    }
  }

  private async write(checkpoint: Checkpoint): Promise<void> {
    this.refuseIfNotAllowed();
    // A concurrent call that got there first may have moved past this one already.
    if (
      checkpoint.type === 'SEQUENCE' &&
      this.current.type === 'SEQUENCE' &&
      compareExtendedSequenceNumbers(checkpoint.position, this.current.position) <= 0
    ) {
      return;
    }
    const result = await this.store.checkpoint(this.ownership, checkpoint);
    if (result.status === 'conflict') {
      this.leaseLost = true;
      this.options.onRefused?.();
      throw this.lostError();
    }
    this.current = checkpoint;
    this.options.onCheckpoint?.(checkpoint);
  }

  private resolveTarget(target: KinesisRecord | string | undefined, subSequenceNumber: number | undefined): Checkpoint | undefined {
    if (target === undefined) {
      if (this.defaultTarget.type === 'shard-end') return { type: 'SHARD_END' };
      // The furthest safe position is the later of the default and what the processor already
      // checkpointed itself (say, part of a batch that then failed): behind it, nothing to do.
      const position = this.defaultTarget.position;
      return position === undefined || this.isCheckpointedThrough(position) ? undefined : this.validated(position);
    }
    if (typeof target === 'string') {
      assertSequenceNumber(target);
      if (subSequenceNumber !== undefined && (!Number.isInteger(subSequenceNumber) || subSequenceNumber < 0)) {
        throw new InvalidArgumentError(`subSequenceNumber must be a non-negative integer, got ${subSequenceNumber}`);
      }
      // Without a sub-sequence, the whole (possibly aggregated) record counts as processed.
      const sub = subSequenceNumber ?? this.lastSubSequenceOf(target);
      return this.validated({ sequenceNumber: target, subSequenceNumber: sub });
    }
    return this.validated({ sequenceNumber: target.sequenceNumber, subSequenceNumber: target.subSequenceNumber });
  }

  private validated(position: ExtendedSequenceNumber): Checkpoint {
    const last = this.lastDelivered;
    if (last === undefined || compareExtendedSequenceNumbers(position, last) > 0) {
      throw new InvalidCheckpointError(
        `cannot checkpoint ${format(position)} on ${this.ownership.leaseKey}: past the last record delivered (${last ? format(last) : 'none'})`,
      );
    }
    if (this.current.type === 'SEQUENCE' && compareExtendedSequenceNumbers(position, this.current.position) < 0) {
      throw new InvalidCheckpointError(
        `cannot checkpoint ${format(position)} on ${this.ownership.leaseKey}: before the current checkpoint ${formatCheckpoint(this.current)}`,
      );
    }
    if (this.current.type === 'SHARD_END') {
      throw new InvalidCheckpointError(`cannot checkpoint ${format(position)} on ${this.ownership.leaseKey}: the shard is finished`);
    }
    // A copy: the caller may pass a whole record, and its payload must not live on in the checkpoint.
    return { type: 'SEQUENCE', position: { sequenceNumber: position.sequenceNumber, subSequenceNumber: position.subSequenceNumber } };
  }

  private isCheckpointedThrough(position: ExtendedSequenceNumber): boolean {
    return (
      this.current.type === 'SHARD_END' ||
      (this.current.type === 'SEQUENCE' && compareExtendedSequenceNumbers(position, this.current.position) <= 0)
    );
  }

  /** A bare sequence number stands for its whole record: every user record of an aggregate. */
  private lastSubSequenceOf(sequenceNumber: string): number {
    const last = this.lastDelivered;
    if (last === undefined) return 0;
    if (last.sequenceNumber === sequenceNumber) return last.subSequenceNumber;
    return compareSequenceNumbers(sequenceNumber, last.sequenceNumber) < 0 ? Number.MAX_SAFE_INTEGER : 0;
  }

  private lostError(): LeaseLostError {
    return new LeaseLostError(
      `lease ${this.ownership.leaseKey} is no longer owned by ${this.ownership.leaseOwner} (epoch ${this.ownership.leaseCounter}); checkpoint refused`,
    );
  }
}

function format(position: ExtendedSequenceNumber): string {
  return formatCheckpoint({ type: 'SEQUENCE', position });
}
