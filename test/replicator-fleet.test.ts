import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards, splitShard, type ShardInfo } from '@shoal/coordinator';
import { RecordLedger, parseRecordId, uniqueName } from '@shoal/local-stack';
import { deaggregateRecord, deaggregateRecords, hashKeyForRecord, hashKeyInRange, parseHashKeyRange } from '@shoal/processor-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { fromTheStart, useShoalProcesses } from './support/cli-process.js';
import { aggregateUserRecords } from './support/kpl-aggregate.js';
import { FleetView } from './support/fleet.js';
import { NATS_URL } from './support/fleet-processes.js';
import { readStreamRecords } from './support/stream-records.js';
import { eventually, useLocalStack } from './support/worker-harness.js';

/**
 * A fleet of two `shoal replicate` processes copying a stream to three targets while the source
 * is split and one of the processes is killed with SIGKILL: every target ends up with every
 * record exactly as sent (data, partition key, explicit hash key), and per partition key the
 * first copy of each record comes in the order sent. Copies may repeat after the crash
 * (at-least-once), never go missing. GetRecords does not return the explicit hash key a plain
 * record was put with, so the records sent with one are KPL user records (which carry theirs).
 */
const local = useLocalStack();
const shoal = useShoalProcesses();
const views: FleetView[] = [];

afterEach(() => {
  for (const view of views.splice(0)) view.close();
});

const RECORDS = 3_000;
const BATCH = 60;
const KEYS = 30;
/** Keys from this one on are sent by a KPL producer, aggregated, each with an explicit hash key. */
const FIRST_AGGREGATED_KEY = 24;
/**
 * Near the top of the key space (the last shard of 1, 2 or 3 even ones, and the second child of
 * the source's upper shard once split), where none of the aggregated keys' partition keys
 * hashes: a copy put without the explicit hash key would land elsewhere.
 */
const EXPLICIT_HASH_KEY_BASE = 7n * 2n ** 125n;

/** One user record as the producer sent it. */
interface Sent {
  readonly id: string;
  readonly key: string;
  readonly explicitHashKey: string | undefined;
  readonly data: Buffer;
}

function userRecordAt(index: number): Sent {
  const keyIndex = index % KEYS;
  const key = `key-${keyIndex}`;
  const id = `r-${index}`;
  const explicitHashKey = keyIndex < FIRST_AGGREGATED_KEY ? undefined : (EXPLICIT_HASH_KEY_BASE + BigInt(keyIndex)).toString();
  return { id, key, explicitHashKey, data: Buffer.from(JSON.stringify({ id, key })) };
}

/**
 * Sends RECORDS user records in order, one PutRecords call at a time so each key's records are in
 * the order sent: the plain keys' as records of their own, the others packed into a KPL aggregate
 * per call (put with its first user record's explicit hash key, as KPL producers do). Resolves
 * the aggregates' bytes.
 */
async function produce(kinesis: KinesisClient, streamName: string, sent: Sent[]): Promise<Set<string>> {
  const aggregates = new Set<string>();
  for (let start = 0; start < RECORDS; start += BATCH) {
    const batch = Array.from({ length: BATCH }, (_, offset) => userRecordAt(start + offset));
    const packed = await aggregateUserRecords(
      batch
        .filter((record) => record.explicitHashKey !== undefined)
        .map(({ key, data, explicitHashKey }) => ({ partitionKey: key, data, explicitHashKey: explicitHashKey! })),
    );
    const { FailedRecordCount } = await kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: [
          ...batch
            .filter((record) => record.explicitHashKey === undefined)
            .map((record) => ({ PartitionKey: record.key, Data: record.data })),
          ...packed.map((aggregate) => ({
            PartitionKey: aggregate.partitionKey,
            Data: aggregate.data,
            ExplicitHashKey: aggregate.explicitHashKey,
          })),
        ],
      }),
    );
    // A record sent again would land after later ones of its key; the emulator never rejects any.
    if (FailedRecordCount) throw new Error(`the emulator rejected ${FailedRecordCount} records`);
    for (const aggregate of packed) aggregates.add(aggregate.data.toString('base64'));
    sent.push(...batch);
    await new Promise((resolve) => setTimeout(resolve, 60));
  }
  return aggregates;
}

describe('a replicator fleet through a split and a crash', () => {
  it('copies every record exactly as sent to 3 targets, in per-key order of first copies, losing none', async () => {
    const stack = local.stack();
    const source = uniqueName('source');
    const targets = [uniqueName('copy-a'), uniqueName('copy-b'), uniqueName('copy-c')];
    await Promise.all([stack.createStream(source, 2), ...targets.map((name, index) => stack.createStream(name, index + 1))]);
    const applicationName = uniqueName('replicator');
    const leaseTableName = uniqueName('leases');
    const view = await FleetView.open(stack, { applicationName, streamName: source, leaseTableName, ledger: new RecordLedger() });
    views.push(view);

    // Test timings: a dead worker's leases are taken within a few seconds.
    const config = join(mkdtempSync(join(tmpdir(), 'shoal-replicator-fleet-')), 'shoal.json');
    writeFileSync(
      config,
      JSON.stringify({
        leaseDurationMs: 3_000,
        heartbeatIntervalMs: 500,
        leaseSyncIntervalMs: 200,
        retrieval: { idleTimeBetweenReadsMs: 50, maxIdleTimeBetweenReadsMs: 200 },
      }),
    );
    const replicator = (workerId: string) =>
      shoal([
        'replicate',
        '--from',
        source,
        '--to',
        targets.join(','),
        '--application',
        applicationName,
        '--lease-table',
        leaseTableName,
        '--worker-id',
        workerId,
        '--config',
        config,
        '--nats',
        NATS_URL,
        '--log-level',
        'warn',
        ...fromTheStart(stack.endpoints),
      ]);
    const crashing = replicator('replicator-a');
    replicator('replicator-b');
    await eventually(() => view.ownedEvenlyBy(['replicator-a', 'replicator-b'], [1]), 'each process holds one of the 2 leases', 30_000);

    const sent: Sent[] = [];
    const producing = produce(stack.kinesis, source, sent);
    let aggregates: Set<string>;
    try {
      // A split while records flow, of the shard the aggregates go to: children are copied only after their parent.
      await eventually(() => sent.length >= RECORDS / 3, 'a third of the records sent', 30_000);
      const toSplit = (await listShards(stack.kinesis, source)).find((shard) =>
        hashKeyInRange(EXPLICIT_HASH_KEY_BASE, parseHashKeyRange(awsRange(shard))),
      );
      await splitShard(stack.kinesis, source, toSplit!.shardId);
      // A crash while records flow, of a process that holds leases: the other takes them over.
      await eventually(() => sent.length >= (2 * RECORDS) / 3, 'two thirds of the records sent', 30_000);
      expect((await view.leasesPerOwner())['replicator-a']).toBeGreaterThan(0);
      process.kill(crashing.child.pid!, 'SIGKILL');
    } finally {
      aggregates = await producing;
    }
    await eventually(
      async () => (await view.read()).leases.every((lease) => lease.checkpoint.type === 'SHARD_END' || lease.leaseOwner === 'replicator-b'),
      'the surviving process holds every open lease',
      30_000,
    );
    const sourceShards = await readStreamRecords(stack.kinesis, source);
    expect(sourceShards.filter(({ shard }) => shard.parentShardIds.length > 0)).toHaveLength(2);
    expect(sourceShards.flatMap(({ records }) => deaggregateRecords(records))).toHaveLength(RECORDS);

    const byId = new Map(sent.map((record) => [record.id, record]));
    const sentByKey = new Map<string, string[]>();
    for (const record of sent) sentByKey.set(record.key, [...(sentByKey.get(record.key) ?? []), record.id]);
    const copiedIds = async (target: string) =>
      new Set(
        (await readStreamRecords(stack.kinesis, target)).flatMap(({ records }) =>
          deaggregateRecords(records).map((record) => parseRecordId(record.data)),
        ),
      );
    for (const target of targets) {
      await eventually(async () => (await copiedIds(target)).size === RECORDS, `${target} has every record`, 30_000);
    }

    for (const target of targets) {
      const firstCopies = new Map<string, string[]>();
      const forwarded = new Set<string>();
      for (const { shard, records } of await readStreamRecords(stack.kinesis, target)) {
        const range = parseHashKeyRange(awsRange(shard));
        for (const stored of records) {
          const users = deaggregateRecord(stored);
          if (users[0]!.aggregated) forwarded.add(Buffer.from(stored.Data!).toString('base64'));
          // Stored where its producer put it: by the explicit hash key (an aggregate's: its first user record's) or the partition key.
          const hashKey = hashKeyForRecord({ partitionKey: stored.PartitionKey!, explicitHashKey: users[0]!.explicitHashKey });
          expect(hashKeyInRange(hashKey, range), `${target}: ${stored.PartitionKey} (hash key ${hashKey}) in ${shard.shardId}`).toBe(true);
          for (const user of users) {
            // Exactly as sent: data, partition key, explicit hash key.
            const id = parseRecordId(user.data);
            const original = byId.get(id);
            expect(original, `${target}: ${id} was sent`).toBeDefined();
            expect(Buffer.from(user.data).equals(original!.data), `${target}: ${id} data`).toBe(true);
            expect([user.partitionKey, user.explicitHashKey], `${target}: ${id} keys`).toEqual([original!.key, original!.explicitHashKey]);
            const ids = firstCopies.get(user.partitionKey) ?? [];
            if (!ids.includes(id)) firstCopies.set(user.partitionKey, [...ids, id]);
          }
        }
      }
      // Nothing lost, and per key the first copies in the order sent (copies after the crash may repeat earlier ones).
      expect(firstCopies, target).toEqual(sentByKey);
      // Every aggregate forwarded as one record, byte for byte.
      expect(forwarded, target).toEqual(aggregates);
    }
  }, 90_000);
});

/** A shard's hash key range as the API spells it. */
function awsRange(shard: ShardInfo): { StartingHashKey: string; EndingHashKey: string } {
  return { StartingHashKey: shard.hashKeyRange.startingHashKey, EndingHashKey: shard.hashKeyRange.endingHashKey };
}
