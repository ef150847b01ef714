import { InvalidArgumentError } from './errors.js';

/**
 * A position in a shard: the Kinesis sequence number plus, for records a KPL producer
 * aggregated, the index of the user record inside the aggregate (0 otherwise).
 */
export interface ExtendedSequenceNumber {
  readonly sequenceNumber: string;
  readonly subSequenceNumber: number;
}

/** Where a lease that has no checkpoint yet starts reading. */
export type InitialPosition =
  { readonly type: 'TRIM_HORIZON' } | { readonly type: 'LATEST' } | { readonly type: 'AT_TIMESTAMP'; readonly timestamp: Date };

/**
 * What a lease row stores as its checkpoint: a position reached by the processor, a sentinel
 * for "not started yet" (the initial position), or `SHARD_END` once a closed shard is finished.
 */
export type Checkpoint =
  | { readonly type: 'SEQUENCE'; readonly position: ExtendedSequenceNumber }
  | { readonly type: 'TRIM_HORIZON' }
  | { readonly type: 'LATEST' }
  | { readonly type: 'AT_TIMESTAMP'; readonly timestamp: Date }
  | { readonly type: 'SHARD_END' };

const SEQUENCE_NUMBER = /^\d{1,128}$/;

/** Throws {@link InvalidArgumentError} unless `value` is a decimal Kinesis sequence number. */
export function assertSequenceNumber(value: string, what = 'sequenceNumber'): void {
  if (!SEQUENCE_NUMBER.test(value)) {
    throw new InvalidArgumentError(`${what} must be a decimal Kinesis sequence number, got ${JSON.stringify(value)}`);
  }
}

/** Orders two positions: negative when `a` is before `b`, 0 when equal, positive after. */
export function compareExtendedSequenceNumbers(a: ExtendedSequenceNumber, b: ExtendedSequenceNumber): number {
  const bySequence = compareSequenceNumbers(a.sequenceNumber, b.sequenceNumber);
  return bySequence !== 0 ? bySequence : a.subSequenceNumber - b.subSequenceNumber;
}

/** Orders two decimal sequence numbers without converting them to floating point. */
export function compareSequenceNumbers(a: string, b: string): number {
  // Kinesis sequence numbers have no leading zeros, so length orders them before digits do.
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A short human-readable form, used in logs and in the live fleet table. */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  switch (checkpoint.type) {
    case 'SEQUENCE': {
      const { sequenceNumber, subSequenceNumber } = checkpoint.position;
      return subSequenceNumber === 0 ? sequenceNumber : `${sequenceNumber}.${subSequenceNumber}`;
    }
    case 'AT_TIMESTAMP':
      return `AT_TIMESTAMP(${checkpoint.timestamp.toISOString()})`;
    default:
      return checkpoint.type;
  }
}
