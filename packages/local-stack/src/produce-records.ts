import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { RecordLedger } from './record-ledger.js';

export interface ProduceRecordsOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly count: number;
  /** Records per PutRecords call (max 500). Default 500. */
  readonly batchSize?: number;
  /** Number of distinct partition keys, used round-robin. Default 64. */
  readonly keyCount?: number;
  /** Payload size in bytes (the JSON header is padded up to it). Default: just the header. */
  readonly recordBytes?: number;
  /** Prefix of record ids, so several producers never collide. Default 'r'. */
  readonly idPrefix?: string;
  /** Registers every record written, in partition-key order. */
  readonly ledger?: RecordLedger;
  /** Called after each PutRecords call with the number written so far. */
  readonly onProgress?: (written: number) => void | Promise<void>;
  /** Pause between calls, to spread records over time. Default 0. */
  readonly pauseMs?: number;
  readonly signal?: AbortSignal;
}

/** The JSON payload `produceRecords` writes; `parseRecordId` reads the id back. */
export interface ProducedPayload {
  readonly id: string;
  readonly key: string;
}

/**
 * Writes `count` records as JSON `{ id, key, pad }` with PutRecords, one call at a time so each
 * partition key's records arrive in the order produced. Entries the service rejects are resent
 * before moving on (a resent record lands after later records of its key; the emulators never
 * reject, real Kinesis may under throttling).
 */
export async function produceRecords(options: ProduceRecordsOptions): Promise<number> {
  const batchSize = Math.min(options.batchSize ?? 500, 500);
  const keyCount = options.keyCount ?? 64;
  const prefix = options.idPrefix ?? 'r';
  let written = 0;
  for (let start = 0; start < options.count; start += batchSize) {
    options.signal?.throwIfAborted();
    const entries = [];
    for (let index = start; index < Math.min(start + batchSize, options.count); index += 1) {
      const key = `key-${index % keyCount}`;
      const id = `${prefix}-${index}`;
      entries.push({ id, key, data: payload(id, key, options.recordBytes) });
    }
    let pending = entries;
    while (pending.length > 0) {
      const response = await options.kinesis.send(
        new PutRecordsCommand({
          StreamName: options.streamName,
          Records: pending.map((entry) => ({ PartitionKey: entry.key, Data: entry.data })),
        }),
        { abortSignal: options.signal },
      );
      const results = response.Records ?? [];
      const failed = pending.filter((_, index) => results[index]?.ErrorCode !== undefined);
      for (const entry of pending) if (!failed.includes(entry)) options.ledger?.recordProduced(entry.id, entry.key);
      written += pending.length - failed.length;
      pending = failed;
    }
    await options.onProgress?.(written);
    if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
  }
  return written;
}

/** Reads the record id out of a payload written by {@link produceRecords}. */
export function parseRecordId(data: Uint8Array): string {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  return (JSON.parse(text) as ProducedPayload).id;
}

function payload(id: string, key: string, size: number | undefined): Uint8Array {
  const header = JSON.stringify({ id, key });
  if (!size || size <= header.length + 10) return Buffer.from(header);
  return Buffer.from(JSON.stringify({ id, key, pad: 'x'.repeat(size - header.length - 10) }));
}
