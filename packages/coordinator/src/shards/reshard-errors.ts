import { ShoalError, type ShoalErrorOptions } from '@shoal/processor-sdk';

/** The shard to split or merge is closed already (it was split or merged before). */
export class ShardClosedError extends ShoalError {
  override readonly name = 'ShardClosedError';
  constructor(message: string, options: ShoalErrorOptions = {}) {
    super('SHARD_CLOSED', message, options);
  }
}

/** A split point outside the shard's hash key range (or at its first key, which would leave one child empty). */
export class HashKeyOutOfRangeError extends ShoalError {
  override readonly name = 'HashKeyOutOfRangeError';
  constructor(message: string, options: ShoalErrorOptions = {}) {
    super('HASH_KEY_OUT_OF_RANGE', message, options);
  }
}

/** Two shards to merge whose hash key ranges do not touch. */
export class ShardsNotAdjacentError extends ShoalError {
  override readonly name = 'ShardsNotAdjacentError';
  constructor(message: string, options: ShoalErrorOptions = {}) {
    super('SHARDS_NOT_ADJACENT', message, options);
  }
}
