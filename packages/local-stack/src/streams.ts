import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  type StreamDescriptionSummary,
} from '@aws-sdk/client-kinesis';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long to poll and how often. */
export interface WaitOptions {
  /** Give up after this long. Default 30 000 ms. */
  timeoutMs?: number;
  /** Delay between polls. Default 25 ms. */
  intervalMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_INTERVAL_MS = 25;

function errorName(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const name = (err as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Polls DescribeStreamSummary until the stream is `ACTIVE` (after CreateStream,
 * UpdateShardCount, SplitShard, MergeShards).
 *
 * @returns the stream's summary once it is active.
 * @throws if it is not active within `timeoutMs`.
 */
export async function waitForStreamActive(
  kinesis: KinesisClient,
  streamName: string,
  options: WaitOptions = {},
): Promise<StreamDescriptionSummary> {
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const interval = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  let lastStatus = 'unknown';
  for (;;) {
    try {
      const { StreamDescriptionSummary: summary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
      if (summary?.StreamStatus === 'ACTIVE') return summary;
      lastStatus = summary?.StreamStatus ?? 'unknown';
    } catch (err) {
      // Right after CreateStream an emulator may not know the stream yet.
      if (errorName(err) !== 'ResourceNotFoundException') throw err;
      lastStatus = 'not found';
    }
    if (Date.now() >= deadline) {
      throw new Error(`stream ${streamName} not ACTIVE after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms (${lastStatus})`);
    }
    await sleep(interval);
  }
}

/**
 * Creates a provisioned stream with `shardCount` shards and waits until it is `ACTIVE`.
 *
 * @returns the stream ARN.
 */
export async function createStreamAndWait(
  kinesis: KinesisClient,
  streamName: string,
  shardCount: number,
  options: WaitOptions = {},
): Promise<string> {
  await kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  const summary = await waitForStreamActive(kinesis, streamName, options);
  return summary.StreamARN ?? '';
}

/**
 * Deletes a stream (with its enhanced fan-out consumers, if any) and waits until it is gone.
 * A stream that does not exist counts as deleted.
 */
export async function deleteStreamAndWait(kinesis: KinesisClient, streamName: string, options: WaitOptions = {}): Promise<void> {
  try {
    await kinesis.send(new DeleteStreamCommand({ StreamName: streamName, EnforceConsumerDeletion: true }));
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') return;
    throw err;
  }
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const interval = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  for (;;) {
    try {
      await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') return;
      throw err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`stream ${streamName} still exists ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms after DeleteStream`);
    }
    await sleep(interval);
  }
}
