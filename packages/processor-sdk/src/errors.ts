/**
 * Every error Shoal raises is a {@link ShoalError}: a `code` from one closed union, a
 * `retryable` flag that says whether the same call may succeed later, and the `cause`.
 * Expected contention (a lost conditional write) is never an error: it is a returned outcome.
 */
export type ShoalErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_OPTIONS'
  | 'INVALID_CHECKPOINT'
  | 'LEASE_LOST'
  | 'SHUTDOWN'
  | 'LEASE_TABLE_SCHEMA'
  | 'STREAM_NOT_FOUND'
  | 'SHARD_CLOSED'
  | 'HASH_KEY_OUT_OF_RANGE'
  | 'SHARDS_NOT_ADJACENT'
  | 'STREAM_CONSUMER_LIMIT'
  | 'KINESIS'
  | 'DYNAMODB'
  | 'PROCESSOR'
  | 'TIMEOUT';

export interface ShoalErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

export class ShoalError extends Error {
  override readonly name: string = 'ShoalError';
  readonly code: ShoalErrorCode;
  readonly retryable: boolean;

  constructor(code: ShoalErrorCode, message: string, options: ShoalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** An argument a caller passed is malformed (a bad sequence number, an empty partition key). */
export class InvalidArgumentError extends ShoalError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string, options?: ShoalErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** A checkpoint outside what was delivered: before the last checkpoint or past the last record. */
export class InvalidCheckpointError extends ShoalError {
  override readonly name = 'InvalidCheckpointError';
  constructor(message: string, options?: ShoalErrorOptions) {
    super('INVALID_CHECKPOINT', message, options);
  }
}

/**
 * This worker no longer owns the lease (another worker took it, or this worker fenced itself
 * because it could not prove it was alive). The processor must stop; its checkpoints are refused.
 */
export class LeaseLostError extends ShoalError {
  override readonly name = 'LeaseLostError';
  constructor(message: string, options?: ShoalErrorOptions) {
    super('LEASE_LOST', message, options);
  }
}

/** The component is shutting down or closed and can no longer do what was asked. */
export class ShutdownError extends ShoalError {
  override readonly name = 'ShutdownError';
  constructor(message: string, options?: ShoalErrorOptions) {
    super('SHUTDOWN', message, options);
  }
}

export function isShoalError(error: unknown): error is ShoalError {
  return error instanceof ShoalError;
}
