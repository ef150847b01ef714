import type {
  KinesisClient,
  PutRecordCommandInput,
  PutRecordCommandOutput,
  PutRecordsCommandInput,
  PutRecordsCommandOutput,
} from '@aws-sdk/client-kinesis';
import type { Logger } from '@shoal/coordinator';
import type { TrafficSink } from './redis-traffic-store.js';
import { TrafficWindows } from './traffic-windows.js';

export interface PutTrafficOptions {
  readonly sink: TrafficSink;
  /** How this producer's windows are labelled in the store. Default `producer`. */
  readonly producer?: string;
  /** How often the windows are written. Default 10000 ms. */
  readonly flushIntervalMs?: number;
  readonly logger?: Logger;
}

/** The recorder on a producer's client: `close()` stops it and writes what is left. */
export interface PutTrafficRecorder {
  flush(): Promise<void>;
  close(): Promise<void>;
}

const THROTTLED = 'ProvisionedThroughputExceededException';
/** Throttled puts have no shard: they are counted against the stream. */
const ANY_SHARD = '*';

/**
 * Counts what a producer's Kinesis client puts, per shard and window (from the shard each
 * PutRecord and PutRecords entry landed on), and the puts refused for throughput, and writes them
 * to the traffic store: the autoscaler then sees the producers' throttling, which consumers
 * cannot. Added as SDK middleware, so the producer's own code does not change.
 */
export function recordPutTraffic(kinesis: KinesisClient, options: PutTrafficOptions): PutTrafficRecorder {
  const windows = new TrafficWindows(options.sink, options.producer ?? 'producer', options.logger);
  const windowOf = (streamName: string, shardId: string) => windows.at(streamName, shardId, Date.now());
  const size = (entry: { Data?: Uint8Array; PartitionKey?: string }) =>
    (entry.Data?.byteLength ?? 0) + Buffer.byteLength(entry.PartitionKey ?? '');

  kinesis.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName;
      if (command !== 'PutRecordsCommand' && command !== 'PutRecordCommand') return next(args);
      try {
        const result = await next(args);
        if (command === 'PutRecordsCommand') {
          const input = args.input as PutRecordsCommandInput;
          const output = result.output as PutRecordsCommandOutput;
          (output.Records ?? []).forEach((entry, index) => {
            const streamName = input.StreamName ?? '';
            if (entry.ShardId) {
              const window = windowOf(streamName, entry.ShardId);
              window.incomingRecords += 1;
              window.incomingBytes += size(input.Records?.[index] ?? {});
            } else if (entry.ErrorCode === THROTTLED) {
              windowOf(streamName, ANY_SHARD).throttledPuts += 1;
            }
          });
        } else {
          const input = args.input as PutRecordCommandInput;
          const output = result.output as PutRecordCommandOutput;
          const window = windowOf(input.StreamName ?? '', output.ShardId ?? ANY_SHARD);
          window.incomingRecords += 1;
          window.incomingBytes += size(input);
        }
        return result;
      } catch (error) {
        if (error instanceof Error && error.name === THROTTLED) {
          const input = args.input as PutRecordCommandInput | PutRecordsCommandInput;
          windowOf(input.StreamName ?? '', ANY_SHARD).throttledPuts += 'Records' in input ? (input.Records?.length ?? 1) : 1;
        }
        throw error;
      }
    },
    // Inside the SDK's retries: each refused attempt counts, as Kinesis counts them.
    { step: 'finalizeRequest', name: 'shoalPutTraffic' },
  );

  const flush = () => windows.flush();
  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? 10_000);
  timer.unref();
  return {
    flush,
    async close() {
      clearInterval(timer);
      kinesis.middlewareStack.remove('shoalPutTraffic');
      await flush();
    },
  };
}
