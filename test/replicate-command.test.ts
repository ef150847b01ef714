import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { RecordLedger, parseRecordId, produceRecords, uniqueName } from '@shoal/local-stack';
import { deaggregateRecords } from '@shoal/processor-sdk';
import { describe, expect, it } from 'vitest';
import { exitCodeWithin, fromTheStart, useShoalProcesses } from './support/cli-process.js';
import { aggregateUserRecords } from './support/kpl-aggregate.js';
import { readStreamRecords } from './support/stream-records.js';
import { eventually, useLocalStack } from './support/worker-harness.js';

/**
 * `shoal replicate` as a process: a worker node whose processor is the replicator, copying a
 * stream with plain records and a KPL aggregate to its targets, forwarding the aggregate whole
 * by default and de-aggregating it with `--kpl deaggregate`; stopped with SIGTERM.
 */
const local = useLocalStack();
const shoal = useShoalProcesses();

describe('shoal replicate', () => {
  it('copies a stream to three others, and with --kpl deaggregate to a fourth, until SIGTERM', async () => {
    const stack = local.stack();
    const source = uniqueName('source');
    const targets = ['copy-a', 'copy-b', 'copy-c'].map((name) => uniqueName(name));
    const deaggregated = uniqueName('copy-users');
    await Promise.all([
      stack.createStream(source, 2),
      ...targets.map((name, index) => stack.createStream(name, index + 1)),
      stack.createStream(deaggregated, 2),
    ]);
    const leaseTable = ['--lease-table', uniqueName('leases')];
    const forwarding = shoal([
      'replicate',
      '--from',
      source,
      '--to',
      targets.join(','),
      '--application',
      uniqueName('replicator'),
      ...leaseTable,
      ...fromTheStart(stack.endpoints),
    ]);
    // The same command from variables, as a container would be configured.
    const deaggregating = shoal(['replicate', '--application', uniqueName('users'), ...leaseTable, ...fromTheStart(stack.endpoints)], {
      SHOAL_STREAM: source,
      SHOAL_REPLICATE_TO: deaggregated,
      SHOAL_KPL: 'deaggregate',
    });

    const ledger = new RecordLedger();
    await produceRecords({ kinesis: stack.kinesis, streamName: source, count: 90, batchSize: 30, keyCount: 9, ledger });
    const users = Array.from({ length: 5 }, (_, index) => ({ partitionKey: `user-${index}`, data: Buffer.from(`user record ${index}`) }));
    const [aggregate] = await aggregateUserRecords(users);
    await stack.kinesis.send(new PutRecordCommand({ StreamName: source, PartitionKey: aggregate!.partitionKey, Data: aggregate!.data }));

    const recordsOf = async (streamName: string) => (await readStreamRecords(stack.kinesis, streamName)).flatMap(({ records }) => records);
    for (const target of targets) {
      await eventually(async () => (await recordsOf(target)).length === 91, `${target} has the 90 records and the aggregate`, 30_000);
      const records = await recordsOf(target);
      const aggregates = records.filter((record) => Buffer.from(record.Data!).equals(aggregate!.data));
      expect(aggregates.map((record) => record.PartitionKey)).toEqual([aggregate!.partitionKey]);
      expect(new Set(records.filter((record) => !aggregates.includes(record)).map((record) => parseRecordId(record.Data!)))).toEqual(
        new Set(ledger.producedIds()),
      );
    }
    await eventually(async () => (await recordsOf(deaggregated)).length === 95, `${deaggregated} has 95 records`, 30_000);
    const userRecords = deaggregateRecords(await recordsOf(deaggregated)).filter((record) => record.partitionKey.startsWith('user-'));
    expect(userRecords.every((record) => !record.aggregated)).toBe(true);
    expect(userRecords.map((record) => [record.partitionKey, Buffer.from(record.data).toString()]).sort()).toEqual(
      users.map((user) => [user.partitionKey, user.data.toString()]).sort(),
    );

    forwarding.kill('SIGTERM');
    deaggregating.kill('SIGTERM');
    expect(await exitCodeWithin(forwarding, 20_000), forwarding.stderr()).toBe(0);
    expect(await exitCodeWithin(deaggregating, 20_000), deaggregating.stderr()).toBe(0);
  });

  it('fails at start naming what is wrong', async () => {
    const endpoints = fromTheStart(local.stack().endpoints);
    const noTargets = shoal(['replicate', '--from', 'orders', '--application', 'copier', ...endpoints]);
    const intoItself = shoal(['replicate', '--from', 'orders', '--to', 'orders-eu,orders', '--application', 'copier', ...endpoints]);
    expect(await exitCodeWithin(noTargets, 20_000)).toBe(1);
    expect(noTargets.stderr()).toContain("required option '--to <streams>' not specified");
    expect(await exitCodeWithin(intoItself, 20_000)).toBe(1);
    expect(intoItself.stderr()).toContain('shoal replicate: --to orders: the worker reads that stream; it would copy its own copies');
  });
});
