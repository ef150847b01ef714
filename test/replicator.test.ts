import { KinesisClient, type PutRecordsCommandInput, type PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import { parseRecordId, produceRecords, uniqueName } from '@shoal/local-stack';
import { TargetWriter, replicatorProcessor } from '@shoal/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { injectFaults, throttled } from './support/fault-injection.js';
import { readStreamRecords } from './support/stream-records.js';
import { eventually, silentLogger, useLocalStack } from './support/worker-harness.js';

/** The replicator copies a stream to several targets through partial failures and throttling, losing and reordering nothing. */
const local = useLocalStack();
const clients: KinesisClient[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

function client(): KinesisClient {
  const created = new KinesisClient(local.stack().clientConfig('kinesis'));
  clients.push(created);
  return created;
}

/**
 * A target that rejects part of many PutRecords calls, as a busy stream does: the middleware
 * sends only some of the records and answers for the others with ProvisionedThroughputExceeded;
 * and throttles some whole calls.
 */
const injected = { rejectedRecords: 0, throttledCalls: 0 };

function flakyTarget(seed: number): KinesisClient {
  const flaky = client();
  let calls = 0;
  injectFaults(flaky, (command, index) => {
    if (command !== 'PutRecordsCommand' || index % 7 !== 3) return undefined;
    injected.throttledCalls += 1;
    return throttled();
  });
  flaky.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'PutRecordsCommand') return next(args);
      calls += 1;
      const input = args.input as PutRecordsCommandInput;
      const all = input.Records ?? [];
      // Every third call: reject the records at positions the seed picks.
      const rejected = new Set(calls % 3 === 0 ? all.map((_, i) => i).filter((i) => (i * 31 + seed + calls) % 4 === 0) : []);
      if (rejected.size === 0) return next(args);
      injected.rejectedRecords += rejected.size;
      const sent = all.filter((_, i) => !rejected.has(i));
      const result = sent.length > 0 ? await next({ ...args, input: { ...input, Records: sent } }) : undefined;
      const written = [...((result?.output as PutRecordsCommandOutput | undefined)?.Records ?? [])];
      const records = all.map((_, i) =>
        rejected.has(i)
          ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded (injected)' }
          : written.shift()!,
      );
      return { ...result, output: { $metadata: {}, FailedRecordCount: rejected.size, Records: records } } as never;
    },
    { step: 'initialize', name: 'partialFailures', priority: 'low' },
  );
  return flaky;
}

/** Every record of a stream, shard by shard in order: id, partition key, data. */
async function readAll(kinesis: KinesisClient, streamName: string): Promise<{ id: string; key: string; data: string }[]> {
  return (await readStreamRecords(kinesis, streamName)).flatMap(({ records }) =>
    records.map((record) => ({
      id: parseRecordId(record.Data!),
      key: record.PartitionKey!,
      data: Buffer.from(record.Data!).toString('base64'),
    })),
  );
}

describe('replicatorProcessor', () => {
  it('copies every record to 3 targets exactly as sent, in per-key order, through partial failures and throttling', async () => {
    const source = await local.createTestStream(2);
    const targets = [uniqueName('target-a'), uniqueName('target-b'), uniqueName('target-c')];
    await Promise.all(targets.map((name, index) => local.stack().createStream(name, index + 1)));
    const worker = await source.createWorker({
      workerId: 'replicator',
      processorFactory: replicatorProcessor({
        targets: [
          { streamName: targets[0]!, kinesis: flakyTarget(1) },
          { streamName: targets[1]!, kinesis: flakyTarget(2) },
          { streamName: targets[2]! },
        ],
        kinesis: client(),
        backoff: { baseMs: 5, maxMs: 50 },
        logger: silentLogger,
      }),
    });
    void worker.run();
    await produceRecords({
      kinesis: local.stack().kinesis,
      streamName: source.streamName,
      count: 1_200,
      batchSize: 100,
      keyCount: 40,
      ledger: source.ledger,
    });
    const sourceRecords = await readAll(local.stack().kinesis, source.streamName);
    const produced = source.ledger.producedIds();
    const sent = new Map(sourceRecords.map((record) => [record.id, record]));

    for (const target of targets) {
      await eventually(
        async () => new Set((await readAll(local.stack().kinesis, target)).map((r) => r.id)).size === produced.length,
        `${target} has every record`,
        60_000,
      );
      const copied = await readAll(local.stack().kinesis, target);
      // Exactly as sent: the same data under the same partition key.
      for (const record of copied) expect(record).toEqual(sent.get(record.id));
      // Per key, the first copy of each record comes in the source's order.
      const firstSeen = new Map<string, string[]>();
      const seen = new Set<string>();
      for (const record of copied) {
        if (seen.has(record.id)) continue;
        seen.add(record.id);
        firstSeen.set(record.key, [...(firstSeen.get(record.key) ?? []), record.id]);
      }
      for (const [key, ids] of firstSeen) {
        const inSource = sourceRecords.filter((record) => record.key === key).map((record) => record.id);
        expect(ids, `${target} key ${key}`).toEqual(inSource);
      }
    }
    expect(injected.rejectedRecords).toBeGreaterThan(0);
    expect(injected.throttledCalls).toBeGreaterThan(0);
  });

  it('refuses a record over the PutRecords limit with an error that names it', async () => {
    const writer = new TargetWriter({
      kinesis: client(),
      streamName: 'anywhere',
      backoff: { baseMs: 5, maxMs: 50 },
      requestTimeoutMs: 1_000,
      logger: silentLogger,
    });
    await expect(writer.write([{ partitionKey: 'big', data: new Uint8Array(1024 * 1024) }], new AbortController().signal)).rejects.toThrow(
      /a record of 1048579 bytes \(partition key big\) is over the 1 MiB PutRecords allows for anywhere/,
    );
  });

  it('names what is wrong with its options', () => {
    expect(() => replicatorProcessor({ targets: [] })).toThrow(/targets: name at least one target stream/);
    expect(() => replicatorProcessor({ targets: [{ streamName: 'a' }, { streamName: 'a' }] })).toThrow(/a stream is named twice/);
  });
});
