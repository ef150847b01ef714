import { GetMetricDataCommand, type CloudWatchClient, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { MINUTE_MS, minuteOf, type ShardTrafficMinute, type TrafficSource } from './shard-traffic.js';

export interface CloudWatchTrafficSourceOptions {
  readonly cloudWatch: CloudWatchClient;
  /**
   * The stream's shards to ask about: their shard-level metrics (Kinesis's enhanced monitoring,
   * `EnableEnhancedMonitoring`) give each shard's traffic. Without it, leave this out: the stream's
   * totals come back as one entry with shard id `*`, enough for uniform scaling, not for hot shards.
   */
  readonly shardIds?: (streamName: string) => Promise<readonly string[]>;
}

/** GetMetricData takes at most 500 queries a call. */
const MAX_QUERIES = 500;

type Figure = 'incomingBytes' | 'incomingRecords' | 'outgoingBytes' | 'outgoingRecords' | 'throttledPuts';

/** The metric behind each figure, at stream level (`stream`) and shard level (`shard`). */
const METRICS: Record<Figure, { readonly stream: string; readonly shard: string }> = {
  incomingBytes: { stream: 'IncomingBytes', shard: 'IncomingBytes' },
  incomingRecords: { stream: 'IncomingRecords', shard: 'IncomingRecords' },
  outgoingBytes: { stream: 'GetRecords.Bytes', shard: 'OutgoingBytes' },
  outgoingRecords: { stream: 'GetRecords.Records', shard: 'OutgoingRecords' },
  throttledPuts: { stream: 'WriteProvisionedThroughputExceeded', shard: 'WriteProvisionedThroughputExceeded' },
};

/**
 * A stream's traffic from CloudWatch (`AWS/Kinesis`, one-minute sums), for streams whose
 * producers and consumers Shoal does not see: per shard with enhanced monitoring, or the
 * stream's totals. No hash key bins: a hot shard is split at its midpoint.
 */
export class CloudWatchTrafficSource implements TrafficSource {
  constructor(private readonly options: CloudWatchTrafficSourceOptions) {}

  async shardMinutes(streamName: string, from: number, to: number): Promise<ShardTrafficMinute[]> {
    const shardIds = this.options.shardIds ? await this.options.shardIds(streamName) : undefined;
    const targets = shardIds ?? ['*'];
    const queries: { query: MetricDataQuery; shardId: string; figure: Figure }[] = [];
    targets.forEach((shardId, shardIndex) => {
      for (const figure of Object.keys(METRICS) as Figure[]) {
        const dimensions = [{ Name: 'StreamName', Value: streamName }, ...(shardIds ? [{ Name: 'ShardId', Value: shardId }] : [])];
        queries.push({
          shardId,
          figure,
          query: {
            Id: `m${shardIndex}_${figure}`,
            MetricStat: {
              Metric: {
                Namespace: 'AWS/Kinesis',
                MetricName: shardIds ? METRICS[figure].shard : METRICS[figure].stream,
                Dimensions: dimensions,
              },
              Period: 60,
              Stat: 'Sum',
            },
            ReturnData: true,
          },
        });
      }
    });
    const sums = new Map<string, ShardTrafficMinute>();
    const entry = (shardId: string, minute: number) => {
      const key = `${shardId}|${minute}`;
      let found = sums.get(key);
      if (!found) {
        found = {
          shardId,
          minute,
          incomingBytes: 0,
          incomingRecords: 0,
          outgoingBytes: 0,
          outgoingRecords: 0,
          throttledPuts: 0,
          hashKeyBins: [],
        };
        sums.set(key, found);
      }
      return found as { -readonly [K in keyof ShardTrafficMinute]: ShardTrafficMinute[K] };
    };
    for (let start = 0; start < queries.length; start += MAX_QUERIES) {
      const batch = queries.slice(start, start + MAX_QUERIES);
      const byId = new Map(batch.map((entry) => [entry.query.Id!, entry]));
      let nextToken: string | undefined;
      do {
        const page = await this.options.cloudWatch.send(
          new GetMetricDataCommand({
            MetricDataQueries: batch.map((entry) => entry.query),
            StartTime: new Date(minuteOf(from)),
            EndTime: new Date(to),
            ...(nextToken === undefined ? {} : { NextToken: nextToken }),
          }),
        );
        for (const result of page.MetricDataResults ?? []) {
          const query = byId.get(result.Id ?? '');
          if (!query) continue;
          (result.Timestamps ?? []).forEach((timestamp, index) => {
            const minute = minuteOf(timestamp.getTime(), MINUTE_MS);
            if (minute < minuteOf(from) || minute >= to) return;
            entry(query.shardId, minute)[query.figure] += result.Values?.[index] ?? 0;
          });
        }
        nextToken = page.NextToken;
      } while (nextToken !== undefined);
    }
    return [...sums.values()].sort((a, b) => a.minute - b.minute || a.shardId.localeCompare(b.shardId));
  }
}
