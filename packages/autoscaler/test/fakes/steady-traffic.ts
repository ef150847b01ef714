import type { ShardTrafficMinute, TrafficSource } from '../../src/index.js';

/**
 * A traffic source that measured the same write traffic in every minute asked for, given in
 * shards' worth of write bytes (1.5: 1.5 MiB/s), all on one shard: enough for the uniform
 * strategy, which sums a minute's shards. Change `shardsWorth` to change the traffic.
 */
export class SteadyTraffic implements TrafficSource {
  constructor(public shardsWorth: number) {}

  async shardMinutes(_streamName: string, from: number, to: number): Promise<ShardTrafficMinute[]> {
    const minutes: ShardTrafficMinute[] = [];
    for (let minute = Math.floor(from / 60_000) * 60_000; minute < to; minute += 60_000) {
      minutes.push({
        shardId: 'shardId-000000000000',
        minute,
        incomingBytes: this.shardsWorth * 60 * 1_048_576,
        incomingRecords: 1,
        outgoingBytes: 0,
        outgoingRecords: 0,
        throttledPuts: 0,
        hashKeyBins: [],
      });
    }
    return minutes;
  }
}
