/** Retryable by waiting: the shard (or KMS, or the account) is over its rate. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'KMSThrottlingException',
  'LimitExceededException',
  'ThrottlingException',
]);

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

export function isThrottling(error: unknown): boolean {
  return THROTTLING.has(errorName(error));
}

/** Errors no retry can fix: the stream or shard does not exist, or access is denied. */
export function isPermanent(error: unknown): boolean {
  const name = errorName(error);
  return name === 'ResourceNotFoundException' || name === 'AccessDeniedException' || name === 'InvalidArgumentException';
}
