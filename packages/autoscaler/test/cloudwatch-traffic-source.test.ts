import type {
  CloudWatchClient,
  GetMetricDataCommand,
  GetMetricDataCommandInput,
  GetMetricDataCommandOutput,
} from '@aws-sdk/client-cloudwatch';
import { describe, expect, it } from 'vitest';
import { CloudWatchTrafficSource, streamMinutes } from '../src/index.js';

/**
 * CloudWatch has no emulator here, so these tests answer GetMetricData in its documented shape
 * and check the queries the source builds and how it reads the answers.
 */
const T0 = Date.UTC(2026, 5, 1, 12, 0);

function answering(answer: (input: GetMetricDataCommandInput, call: number) => GetMetricDataCommandOutput) {
  const inputs: GetMetricDataCommandInput[] = [];
  const client = {
    send: async (command: GetMetricDataCommand) => {
      inputs.push(command.input);
      return answer(command.input, inputs.length - 1);
    },
  } as unknown as CloudWatchClient;
  return { client, inputs };
}

describe('CloudWatchTrafficSource', () => {
  it('asks for the stream totals a minute and reads them as one entry per minute', async () => {
    const { client, inputs } = answering((input) => ({
      $metadata: {},
      MetricDataResults: (input.MetricDataQueries ?? []).map((query) => ({
        Id: query.Id,
        Timestamps: [new Date(T0), new Date(T0 + 60_000)],
        Values: query.MetricStat?.Metric?.MetricName === 'IncomingBytes' ? [60 * 1_048_576, 120 * 1_048_576] : [6_000, 12_000],
      })),
    }));
    const source = new CloudWatchTrafficSource({ cloudWatch: client });
    const minutes = await source.shardMinutes('orders', T0, T0 + 120_000);
    expect(inputs).toHaveLength(1);
    expect(inputs[0]!.MetricDataQueries!.map((query) => query.MetricStat!.Metric!.MetricName)).toEqual([
      'IncomingBytes',
      'IncomingRecords',
      'GetRecords.Bytes',
      'GetRecords.Records',
      'WriteProvisionedThroughputExceeded',
    ]);
    expect(inputs[0]!.MetricDataQueries!.every((query) => query.MetricStat!.Period === 60 && query.MetricStat!.Stat === 'Sum')).toBe(true);
    expect(inputs[0]!.MetricDataQueries![0]!.MetricStat!.Metric!.Dimensions).toEqual([{ Name: 'StreamName', Value: 'orders' }]);
    expect(
      minutes.map(({ shardId, minute, incomingBytes, incomingRecords }) => ({ shardId, minute, incomingBytes, incomingRecords })),
    ).toEqual([
      { shardId: '*', minute: T0, incomingBytes: 60 * 1_048_576, incomingRecords: 6_000 },
      { shardId: '*', minute: T0 + 60_000, incomingBytes: 120 * 1_048_576, incomingRecords: 12_000 },
    ]);
    // 1 MiB/s and 2 MiB/s: the planner's needs.
    expect(streamMinutes(minutes, T0, T0 + 120_000).map((minute) => minute.incomingBytes / 60 / 1_048_576)).toEqual([1, 2]);
  });

  it('asks per shard with enhanced monitoring, 500 queries a call at most, and follows NextToken', async () => {
    const shardIds = Array.from({ length: 120 }, (_, index) => `shardId-${String(index).padStart(12, '0')}`);
    const { client, inputs } = answering((input, call) => ({
      $metadata: {},
      MetricDataResults: (input.MetricDataQueries ?? []).map((query) => ({ Id: query.Id, Timestamps: [new Date(T0)], Values: [1] })),
      // The first batch answers in two pages.
      ...(call === 0 ? { NextToken: 'more' } : {}),
    }));
    const source = new CloudWatchTrafficSource({ cloudWatch: client, shardIds: async () => shardIds });
    const minutes = await source.shardMinutes('orders', T0, T0 + 60_000);
    expect(inputs.map((input) => [input.MetricDataQueries!.length, input.NextToken])).toEqual([
      [500, undefined],
      [500, 'more'],
      [100, undefined],
    ]);
    expect(inputs[2]!.MetricDataQueries![0]!.MetricStat!.Metric!.Dimensions).toEqual([
      { Name: 'StreamName', Value: 'orders' },
      { Name: 'ShardId', Value: 'shardId-000000000100' },
    ]);
    expect(inputs[0]!.MetricDataQueries!.slice(0, 5).map((query) => query.MetricStat!.Metric!.MetricName)).toEqual([
      'IncomingBytes',
      'IncomingRecords',
      'OutgoingBytes',
      'OutgoingRecords',
      'WriteProvisionedThroughputExceeded',
    ]);
    expect(minutes).toHaveLength(120);
    // The first shards were answered on both pages of the first batch.
    expect(minutes.find((minute) => minute.shardId === shardIds[0])).toMatchObject({ incomingBytes: 2, throttledPuts: 2, hashKeyBins: [] });
    expect(minutes.find((minute) => minute.shardId === shardIds[119])).toMatchObject({ incomingBytes: 1 });
  });
});
