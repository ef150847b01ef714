import { ShoalError, type ShoalErrorOptions } from '@shoal/processor-sdk';

/**
 * An AWS call got no answer within its time. A write may still have been applied: the caller
 * must treat its outcome as unknown (read back, or rely on the next conditional write).
 */
export class RequestTimeoutError extends ShoalError {
  override readonly name = 'RequestTimeoutError';
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
    options: ShoalErrorOptions = {},
  ) {
    super('TIMEOUT', `${operation} got no answer within ${timeoutMs} ms; if it was a write, it may or may not have been applied`, {
      retryable: true,
      ...options,
    });
  }
}

/**
 * Runs `call` with a signal that aborts after `timeoutMs` (or when `parent` aborts), and rejects
 * with {@link RequestTimeoutError} at that moment even if the call itself ignores the signal
 * (a reply held up anywhere between the socket and the caller).
 */
export async function withRequestTimeout<T>(
  operation: string,
  timeoutMs: number,
  call: (signal: AbortSignal) => Promise<T>,
  parent?: AbortSignal,
): Promise<T> {
  parent?.throwIfAborted();
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onParentAbort = () => controller.abort(parent?.reason);
  parent?.addEventListener('abort', onParentAbort, { once: true });
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new RequestTimeoutError(operation, timeoutMs);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    return await Promise.race([call(controller.signal), timedOut]);
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener('abort', onParentAbort);
  }
}
