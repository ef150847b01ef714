import { PutRecordsCommand, ResourceNotFoundException, type KinesisClient } from '@aws-sdk/client-kinesis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { TargetWriter } from '../src/replicator/target-writer.js';
import type { TargetRecord } from '../src/replicator/put-batches.js';

function capturing() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** A Kinesis client whose send is `answer` for every PutRecords. */
function fakeKinesis(answer: (input: PutRecordsCommand['input'], abortSignal?: AbortSignal) => Promise<unknown>) {
  const calls: PutRecordsCommand['input'][] = [];
  const kinesis = {
    send: (command: PutRecordsCommand, options?: { abortSignal?: AbortSignal }) => {
      calls.push(command.input);
      return answer(command.input, options?.abortSignal);
    },
  } as unknown as KinesisClient;
  return { kinesis, calls };
}

const record = (key: string, data = 'x'): TargetRecord => ({ partitionKey: key, data: Buffer.from(data) });

describe('TargetWriter', () => {
  it('rejects at once on an error no retry mends (the target stream is missing)', async () => {
    const { kinesis, calls } = fakeKinesis(async () => {
      throw new ResourceNotFoundException({ message: 'Stream orders-eu under account 000000000000 not found.', $metadata: {} });
    });
    const { logger } = capturing();
    const writer = new TargetWriter({
      kinesis,
      streamName: 'orders-eu',
      backoff: { baseMs: 5, maxMs: 20 },
      requestTimeoutMs: 1_000,
      logger,
    });
    const signal = AbortSignal.timeout(1_500);
    const outcome = await writer.write([record('k')], signal).then(
      () => 'resolved',
      (err: unknown) => (signal.aborted ? 'still retrying when the lease signal aborted' : `rejected: ${String(err)}`),
    );
    // The error surfaces (the processor's failure is logged and retried by the consumer), after one call.
    expect({ outcome, calls: calls.length }).toEqual({
      outcome: expect.stringMatching(/^rejected: TargetWriteError: cannot write to orders-eu/),
      calls: 1,
    });
  });

  it('rejects a partition key PutRecords cannot take (over 256 characters) with a clear error instead of looping', async () => {
    const { kinesis, calls } = fakeKinesis(async (input) => {
      if ((input.Records ?? []).some((r) => (r.PartitionKey ?? '').length > 256 || (r.PartitionKey ?? '').length === 0)) {
        throw Object.assign(
          new Error(
            "1 validation error detected: Value at 'records.1.member.partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256",
          ),
          { name: 'ValidationException' },
        );
      }
      return { FailedRecordCount: 0, Records: (input.Records ?? []).map(() => ({ SequenceNumber: '1', ShardId: 'shardId-0' })) };
    });
    const writer = new TargetWriter({
      kinesis,
      streamName: 't',
      backoff: { baseMs: 5, maxMs: 20 },
      requestTimeoutMs: 1_000,
      logger: capturing().logger,
    });
    const signal = AbortSignal.timeout(1_000);
    const outcome = await writer.write([record('k'.repeat(300))], signal).then(
      () => 'resolved',
      (err: unknown) => (signal.aborted ? `looped ${calls.length} calls until aborted` : `rejected: ${String(err)}`),
    );
    expect(outcome).toMatch(/^rejected: .*partition key/i);
  });

  it('rejects a transformed record whose data is not bytes (a string) instead of sending empty PutRecords calls forever', async () => {
    const { kinesis, calls } = fakeKinesis(async (input) => {
      // A network round trip (a macrotask), as a real client has; without it the writer spins on
      // microtasks and starves the event loop: this test (and a worker) then hangs for good.
      await new Promise((resolve) => setTimeout(resolve, 1));
      if ((input.Records ?? []).length === 0) {
        throw Object.assign(
          new Error("Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1"),
          { name: 'ValidationException' },
        );
      }
      return { FailedRecordCount: 0, Records: (input.Records ?? []).map(() => ({ SequenceNumber: '1', ShardId: 'shardId-0' })) };
    });
    const writer = new TargetWriter({
      kinesis,
      streamName: 't',
      backoff: { baseMs: 5, maxMs: 20 },
      requestTimeoutMs: 1_000,
      logger: capturing().logger,
    });
    const signal = AbortSignal.timeout(1_000);
    const misused = { partitionKey: 'k', data: 'a JSON string from a JS transform' } as unknown as TargetRecord;
    const outcome = await writer.write([misused], signal).then(
      () => 'resolved',
      (err: unknown) => (signal.aborted ? `looped ${calls.length} calls, no backoff, until aborted` : `rejected: ${String(err)}`),
    );
    const empty = calls.filter((input) => (input.Records ?? []).length === 0).length;
    expect({ outcome, emptyCalls: empty }).toEqual({ outcome: expect.stringMatching(/^rejected/), emptyCalls: 0 });
  });

  it('stops promptly when the lease is lost during a PutRecords call that does not honour the abort', async () => {
    // A call held up between the socket and the caller (the case withRequestTimeout guards against for timeouts).
    const { kinesis } = fakeKinesis(() => new Promise(() => undefined));
    const writer = new TargetWriter({
      kinesis,
      streamName: 't',
      backoff: { baseMs: 5, maxMs: 20 },
      requestTimeoutMs: 3_000,
      logger: capturing().logger,
    });
    const lease = new AbortController();
    setTimeout(() => lease.abort(new Error('lease lost')), 50);
    const start = performance.now();
    await writer.write([record('k')], lease.signal).catch(() => undefined);
    expect(performance.now() - start).toBeLessThan(1_000);
  });
});
