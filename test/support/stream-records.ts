import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';
import { listShards, type ShardInfo } from '@shoal/coordinator';

/** One shard of a stream and every record it holds, in order. */
export interface ShardRecords {
  readonly shard: ShardInfo;
  readonly records: _Record[];
}

/**
 * Every record of a stream as GetRecords returns it (KPL aggregates not de-aggregated), shard by
 * shard in order: for checking what a writer put there, bytes and keys as stored.
 */
export async function readStreamRecords(kinesis: KinesisClient, streamName: string): Promise<ShardRecords[]> {
  const shards = await listShards(kinesis, streamName);
  return Promise.all(
    shards.map(async (shard) => {
      const records: _Record[] = [];
      let { ShardIterator: iterator } = await kinesis.send(
        new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.shardId, ShardIteratorType: 'TRIM_HORIZON' }),
      );
      // An empty page is the shard's tip (or the end of a closed one).
      for (let reads = 0; iterator && reads < 100; reads += 1) {
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        records.push(...(page.Records ?? []));
        if ((page.Records ?? []).length === 0) break;
        iterator = page.NextShardIterator;
      }
      return { shard, records };
    }),
  );
}
