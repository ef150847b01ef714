import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type KinesisClient, type _Record } from '@aws-sdk/client-kinesis';

/** Most GetRecords calls one shard read may take (10,000 records each). */
const MAX_CALLS_PER_SHARD = 1_000;

/**
 * Every record of a stream, shard by shard in order (a partition key's records are in one shard
 * of a stream that was never resharded, so this is each key's order). Bounded: at most
 * MAX_CALLS_PER_SHARD calls per shard, stopping at the first empty page.
 */
export async function readWholeStream(kinesis: KinesisClient, streamName: string): Promise<_Record[]> {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
  const records: _Record[] = [];
  for (const shard of Shards) {
    let { ShardIterator: iterator } = await kinesis.send(
      new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    for (let calls = 0; iterator && calls < MAX_CALLS_PER_SHARD; calls += 1) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      const got = page.Records ?? [];
      if (got.length === 0) break;
      records.push(...got);
      iterator = page.NextShardIterator;
    }
  }
  return records;
}
