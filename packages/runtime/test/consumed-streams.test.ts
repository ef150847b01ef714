import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { eligibleLeases } from '../src/fleet/fleet-plan.js';
import { ConsumedStreams, type StreamSelection } from '../src/streams/consumed-streams.js';
import { testLease } from './fakes/records.js';

/** A Kinesis client whose ListStreams answers from `pages` (100 names a page at most), counting calls. */
function listing(names: () => readonly string[]) {
  const calls: unknown[] = [];
  const kinesis = {
    send: async (command: { input: { ExclusiveStartStreamName?: string; Limit?: number } }) => {
      calls.push(command.input);
      const all = [...names()].sort();
      const start = command.input.ExclusiveStartStreamName;
      const rest = start === undefined ? all : all.filter((name) => name > start);
      const page = rest.slice(0, command.input.Limit ?? 100);
      return { StreamNames: page, HasMoreStreams: rest.length > page.length };
    },
  } as unknown as KinesisClient;
  return { kinesis, calls };
}

function streamsOf(selection: StreamSelection, kinesis = {} as KinesisClient): ConsumedStreams {
  return new ConsumedStreams({ selection, kinesis, requestTimeoutMs: 5_000, logger: pino({ level: 'silent' }) });
}

describe('ConsumedStreams', () => {
  it('keys a single stream’s leases by shard id and several streams’ leases by stream', () => {
    const single = streamsOf({ kind: 'single', streamName: 'orders' });
    expect(single.qualified).toBe(false);
    expect(single.streamOf(testLease())).toBe('orders');
    expect(single.shardOfLeaseKey('shardId-1', 'shardId-1')).toEqual({ streamName: 'orders', shardId: 'shardId-1' });

    const several = streamsOf({ kind: 'list', streamNames: ['orders', 'refunds'] });
    expect(several.qualified).toBe(true);
    expect(several.leaseScope('refunds')).toEqual({ streamName: 'refunds' });
    expect(several.consumes(testLease({ streamName: 'refunds' }))).toBe(true);
    expect(several.consumes(testLease({ streamName: 'payments' }))).toBe(false);
    // A row of a multi-stream namespace that names no stream is nobody's to take.
    expect(several.consumes(testLease())).toBe(false);
    expect(several.shardOfLeaseKey('refunds:shardId-1', 'shardId-1')).toEqual({ streamName: 'refunds', shardId: 'shardId-1' });
    // A message naming a stream this application does not consume, or a key that does not fit its shard, names nothing.
    expect(several.shardOfLeaseKey('payments:shardId-1', 'shardId-1')).toBeUndefined();
    expect(several.shardOfLeaseKey('orders:shardId-2', 'shardId-1')).toBeUndefined();
  });

  it('matches a pattern against whole names, over every page of the listing, and reports what changed', async () => {
    let names = [
      'orders-eu',
      'orders-us',
      'old-orders-eu',
      'orders-eu-archive',
      'refunds',
      ...Array.from({ length: 150 }, (_, i) => `z-${i}`),
    ];
    const { kinesis, calls } = listing(() => names);
    const streams = streamsOf({ kind: 'pattern', pattern: /orders-(eu|us)/ }, kinesis);
    expect(await streams.refresh()).toEqual({ added: ['orders-eu', 'orders-us'], removed: [] });
    expect(calls.length).toBe(2);
    expect(streams.names()).toEqual(['orders-eu', 'orders-us']);

    names = ['orders-us', 'orders-eu-archive', 'refunds'];
    expect(await streams.refresh()).toEqual({ added: [], removed: ['orders-eu'] });
    expect(streams.consumes(testLease({ streamName: 'orders-eu' }))).toBe(false);
  });

  it('never lists streams for a fixed list', async () => {
    const { kinesis, calls } = listing(() => ['orders']);
    const streams = streamsOf({ kind: 'list', streamNames: ['orders', 'refunds'] }, kinesis);
    expect(await streams.refresh()).toEqual({ added: [], removed: [] });
    expect(streams.refreshes).toBe(false);
    expect(calls).toEqual([]);
  });
});

describe('eligibleLeases across streams', () => {
  it('waits for a parent of the same stream only, and leaves leases of other streams alone', () => {
    const streams = streamsOf({ kind: 'list', streamNames: ['orders', 'refunds'] });
    const lease = (streamName: string, shardId: string, overrides: Parameters<typeof testLease>[0] = {}) =>
      testLease({ streamName, shardId, leaseKey: `${streamName}:${shardId}`, ...overrides });
    const ordersParent = lease('orders', 'shardId-000000000000');
    const ordersChild = lease('orders', 'shardId-000000000001', { parentShardIds: ['shardId-000000000000'] });
    // Same shard ids in another stream: its parent finished, so its child may start.
    const refundsParent = lease('refunds', 'shardId-000000000000', { checkpoint: { type: 'SHARD_END' } });
    const refundsChild = lease('refunds', 'shardId-000000000001', { parentShardIds: ['shardId-000000000000'] });
    const payments = lease('payments', 'shardId-000000000000');
    const eligible = eligibleLeases([ordersParent, ordersChild, refundsParent, refundsChild, payments], new Set(), (l) =>
      streams.consumes(l),
    );
    expect(eligible.map((l) => l.leaseKey)).toEqual(['orders:shardId-000000000000', 'refunds:shardId-000000000001']);
  });
});
