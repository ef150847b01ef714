import { ExpiredIteratorException, ProvisionedThroughputExceededException, type KinesisClient } from '@aws-sdk/client-kinesis';

/** Decides, per Kinesis call, whether to fail it instead of sending it. */
export type FaultRule = (commandName: string, callIndex: number) => Error | undefined;

/**
 * Adds an SDK middleware that fails chosen calls before they leave the client (ahead of the
 * SDK's own retries), and counts every call by command name. The emulators never throttle or
 * expire iterators on their own, so this is how those paths are exercised.
 */
export function injectFaults(
  client: KinesisClient,
  rule: FaultRule,
): { calls: Map<string, number>; log: { command: string; at: number }[] } {
  const calls = new Map<string, number>();
  const log: { command: string; at: number }[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? 'unknown';
      const index = calls.get(command) ?? 0;
      calls.set(command, index + 1);
      log.push({ command, at: performance.now() });
      const fault = rule(command, index);
      if (fault) throw fault;
      return next(args);
    },
    { step: 'initialize', name: 'shoalTestFaults' },
  );
  return { calls, log };
}

export const throttled = () =>
  new ProvisionedThroughputExceededException({ message: 'Rate exceeded for shard (injected)', $metadata: { httpStatusCode: 400 } });

export const expiredIterator = () =>
  new ExpiredIteratorException({ message: 'Iterator expired (injected)', $metadata: { httpStatusCode: 400 } });
