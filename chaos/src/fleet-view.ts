import { DynamoDbLeaseStore, leaseNamespace, listShards, type NamespaceSnapshot, type ShardInfo } from '@shoal/coordinator';
import type { LocalStack } from '@shoal/local-stack';
import type { FleetTarget } from './chaos-fleet.js';

/** What the runner reads, as an operator would, to aim events: the leader, and the stream's open shards. */
export class FleetView {
  private readonly store: DynamoDbLeaseStore;
  private readonly namespace: string;

  constructor(
    private readonly stack: LocalStack,
    private readonly target: FleetTarget,
  ) {
    // The runner's own client: no chaos middleware on it.
    this.store = new DynamoDbLeaseStore({ client: stack.dynamodb, tableName: target.leaseTableName });
    this.namespace = leaseNamespace(target.applicationName, target.streamName);
  }

  ensureTable(): Promise<void> {
    return this.store.ensureTable();
  }

  read(): Promise<NamespaceSnapshot> {
    return this.store.readNamespace(this.namespace);
  }

  /** The worker the leadership row names, if any. */
  async leaderId(): Promise<string | undefined> {
    return (await this.read()).leadership?.leaderId;
  }

  /** Open shards, ordered by their hash key ranges. */
  async openShards(): Promise<ShardInfo[]> {
    const shards = await listShards(this.stack.kinesis, this.target.streamName);
    return shards
      .filter((shard) => shard.endingSequenceNumber === undefined)
      .sort((a, b) => compareBig(a.hashKeyRange.startingHashKey, b.hashKeyRange.startingHashKey));
  }
}

function compareBig(a: string, b: string): number {
  const [x, y] = [BigInt(a), BigInt(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}
