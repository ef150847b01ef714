import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import type { Logger } from '@shoal/coordinator';
import type { KinesisRecord, ShardRecordProcessorFactory } from '@shoal/processor-sdk';
import { pino } from 'pino';
import { InvalidOptionsError } from '../errors.js';
import { planCopies, type CopyRules, type KplMode } from './copy-plan.js';
import type { TargetRecord } from './put-batches.js';
import { TargetWriter } from './target-writer.js';

/** One stream records are copied to; `kinesis` reaches it (another region or account: a client of its own). */
export interface ReplicationTarget {
  readonly streamName: string;
  /** A client, or its config; default: the replicator's `kinesis`. */
  readonly kinesis?: KinesisClient | KinesisClientConfig;
}

export interface ReplicatorOptions {
  readonly targets: readonly ReplicationTarget[];
  /** The client (or its config) for targets that name none. */
  readonly kinesis?: KinesisClient | KinesisClientConfig;
  /** Copies only the records for which it returns true. Default: every record. */
  readonly filter?: (record: KinesisRecord) => boolean;
  /** What is written for a record (data, partition key, explicit hash key). Default: the record as read. */
  readonly transform?: (record: KinesisRecord) => TargetRecord;
  /** The targets (by stream name) a record goes to. Default: every target. */
  readonly route?: (record: KinesisRecord) => readonly string[];
  /**
   * KPL aggregated records of the source: `'forward'` writes each aggregate as it was read, one
   * record with the same bytes, partition key and explicit hash key, so the targets hold what
   * the source holds (and as few records: a target's per-shard limit counts records);
   * `'deaggregate'` writes each user record on its own, with its own keys. With `filter` or
   * `route`, an aggregate is forwarded whole to a target only when every user record of it goes
   * there; the target gets the others one by one. Default `'forward'`, or `'deaggregate'` when a
   * `transform` is given (it rewrites user records, which an aggregate's bytes cannot show).
   */
  readonly kpl?: KplMode;
  /** Retries of rejected records and failed calls. Default 100 ms, doubling to 5 s. */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  /** A PutRecords call without an answer after this long is tried again. Default 10 s. */
  readonly requestTimeoutMs?: number;
  readonly logger?: Logger;
}

/**
 * A processor factory that copies every record of the source stream to each target stream, with
 * its partition key unchanged (GetRecords does not return the explicit hash key of a record that
 * was not aggregated; KPL user records keep theirs, and an aggregate is forwarded as it was read
 * unless `kpl` says otherwise): per partition key, each target gets the records in the source's
 * order (see `TargetWriter`), and the source is checkpointed only once every target has the
 * batch. Run it as any application's processor: its fleet takes the source's leases, hands them
 * over, and follows its reshards (parents first) as usual. A record can reach a target twice (a
 * call whose answer was lost, a crash before the checkpoint), never not at all.
 *
 * @example
 * ```ts
 * const worker = await Worker.create({
 *   applicationName: 'orders-replicator',
 *   streamName: 'orders',
 *   processorFactory: replicatorProcessor({ targets: [{ streamName: 'orders-eu' }, { streamName: 'orders-audit' }] }),
 * });
 * ```
 */
export function replicatorProcessor(options: ReplicatorOptions): ShardRecordProcessorFactory {
  if (options.targets.length === 0) throw new InvalidOptionsError(['targets: name at least one target stream']);
  const names = options.targets.map((target) => target.streamName);
  if (new Set(names).size !== names.length) throw new InvalidOptionsError([`targets: a stream is named twice (${names.join(', ')})`]);
  const kpl = kplMode(options);
  const logger = options.logger ?? pino({ name: 'shoal-replicator' });
  const shared = clientOf(options.kinesis ?? {});
  const writers = options.targets.map(
    (target) =>
      new TargetWriter({
        kinesis: target.kinesis === undefined ? shared : clientOf(target.kinesis),
        streamName: target.streamName,
        backoff: options.backoff ?? { baseMs: 100, maxMs: 5_000 },
        requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
        logger,
      }),
  );
  const rules: CopyRules = {
    targets: names,
    filter: options.filter ?? (() => true),
    transform: options.transform ?? ((record: KinesisRecord): TargetRecord => record),
    route: options.route ?? (() => names),
    kpl,
  };

  return () => ({
    async processRecords({ records, checkpointer, signal }) {
      const perTarget = planCopies(records, rules);
      // Every record is checked before any is written: a batch one target can never take is
      // written to none, rather than again and again to the others on every redelivery.
      for (const writer of writers) writer.check(perTarget.get(writer.streamName)!);
      // The first target to fail stops the others, so no write goes on after the call returned.
      const stopping = new AbortController();
      const either = AbortSignal.any([signal, stopping.signal]);
      const results = await Promise.allSettled(
        writers.map((writer) =>
          writer.write(perTarget.get(writer.streamName)!, either).catch((error: unknown) => {
            stopping.abort(error);
            throw error;
          }),
        ),
      );
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
      await checkpointer.checkpoint();
    },
    async shardEnded({ checkpointer }) {
      await checkpointer.checkpoint();
    },
    async shutdownRequested({ checkpointer }) {
      await checkpointer.checkpoint();
    },
  });
}

function kplMode(options: ReplicatorOptions): KplMode {
  const mode = options.kpl ?? (options.transform === undefined ? 'forward' : 'deaggregate');
  if (mode !== 'forward' && mode !== 'deaggregate') {
    throw new InvalidOptionsError([`kpl: must be 'forward' or 'deaggregate', got ${JSON.stringify(mode)}`]);
  }
  if (mode === 'forward' && options.transform !== undefined) {
    throw new InvalidOptionsError([
      "kpl: 'forward' copies aggregates as they were read, so it cannot apply a transform; use 'deaggregate' with a transform",
    ]);
  }
  return mode;
}

function clientOf(kinesis: KinesisClient | KinesisClientConfig): KinesisClient {
  return kinesis instanceof KinesisClient ? kinesis : new KinesisClient(kinesis);
}
