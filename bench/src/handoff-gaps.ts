/**
 * Splits a rolling deploy's record latencies by cause: records put while their shard was moving
 * between workers (after the old owner's last batch, up to the new owner's first) against all
 * the others, whose latency is the poll interval and whatever the deploy costs the machine.
 */
export interface ProcessedRecord {
  readonly putAt: number;
  readonly processedAt: number;
  readonly shardId: string;
  /** The process that processed it: a change of process on a shard is a move. */
  readonly processId: string;
}

export interface ShardMove {
  readonly shardId: string;
  /** The old owner's last batch. */
  readonly lastOldAt: number;
  /** The new owner's first batch. */
  readonly firstNewAt: number;
}

/** The moves of every shard, from which process processed each batch. */
export function shardMoves(records: readonly ProcessedRecord[]): ShardMove[] {
  const byShard = new Map<string, ProcessedRecord[]>();
  for (const record of records) byShard.set(record.shardId, [...(byShard.get(record.shardId) ?? []), record]);
  const moves: ShardMove[] = [];
  for (const [shardId, processed] of byShard) {
    processed.sort((a, b) => a.processedAt - b.processedAt);
    for (let i = 1; i < processed.length; i += 1) {
      const previous = processed[i - 1]!;
      const current = processed[i]!;
      if (current.processId !== previous.processId)
        moves.push({ shardId, lastOldAt: previous.processedAt, firstNewAt: current.processedAt });
    }
  }
  return moves.sort((a, b) => a.firstNewAt - b.firstNewAt);
}

/** Whether the record was put while its shard was moving (see {@link shardMoves}). */
export function putDuringMove(record: ProcessedRecord, moves: readonly ShardMove[]): boolean {
  return moves.some((move) => move.shardId === record.shardId && record.putAt > move.lastOldAt && record.putAt <= move.firstNewAt);
}
