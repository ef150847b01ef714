/**
 * Kinesis allows each shard 5 GetRecords calls and 2 MiB read per second, shared by every
 * application that polls it. A read budget spreads that allowance across all Shoal workers
 * of all applications reading the same stream.
 */
export interface ShardReadBudget {
  /**
   * Resolves when one GetRecords call on the shard fits the budget. Rejects only when `signal`
   * aborts. A budget whose backend is down lets the call through (reads never stop for it).
   */
  acquireCall(streamName: string, shardId: string, signal?: AbortSignal): Promise<void>;
  /** Charges the bytes a GetRecords call returned; later calls wait until they are paid back. */
  recordBytes(streamName: string, shardId: string, bytes: number): void;
  close(): Promise<void>;
}

/** No shared budget: every call goes through at once. The default without Redis. */
export class UnlimitedShardReadBudget implements ShardReadBudget {
  async acquireCall(): Promise<void> {}
  recordBytes(): void {}
  async close(): Promise<void> {}
}
