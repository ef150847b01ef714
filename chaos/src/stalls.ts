/** One produced record as the stall computation needs it. */
export interface RecordTimes {
  /** The shard PutRecords put it on, and when the call returned. */
  readonly putShard: string;
  readonly putAt: number;
  /** When and on which shard it was first processed; undefined if never. */
  readonly firstAt: number | undefined;
  readonly firstShard: string | undefined;
}

/** A stretch in which a shard had records waiting and none of its records was processed for the first time. */
export interface Stall {
  readonly shard: string;
  readonly fromMs: number;
  readonly toMs: number;
  readonly ms: number;
}

/**
 * Every stall of at least `minMs` on every shard, longest first. Progress on a shard is the first
 * processing of any of its records (a redelivered record is not progress). Between two
 * consecutive progress times `a` < `b` of a shard, the records waiting are those put before `b`
 * and first processed at `b` or later (or never); the stall runs from `a`, or from the earliest
 * such put if that is later, to `b`. After the last progress, records never processed stall until
 * `endAt`.
 */
export function findStalls(records: readonly RecordTimes[], endAt: number, minMs: number): Stall[] {
  const byShard = new Map<string, { waiting: RecordTimes[]; progress: number[] }>();
  const entry = (shard: string) => {
    let value = byShard.get(shard);
    if (!value) byShard.set(shard, (value = { waiting: [], progress: [] }));
    return value;
  };
  for (const record of records) {
    entry(record.putShard).waiting.push(record);
    if (record.firstAt !== undefined && record.firstShard !== undefined) entry(record.firstShard).progress.push(record.firstAt);
  }

  const stalls: Stall[] = [];
  for (const [shard, { waiting, progress }] of byShard) {
    // Records by first processing time (never processed last), with the earliest put among each suffix.
    const sorted = [...waiting].sort((x, y) => (x.firstAt ?? Infinity) - (y.firstAt ?? Infinity));
    const suffixMinPut = new Array<number>(sorted.length + 1).fill(Infinity);
    for (let i = sorted.length - 1; i >= 0; i -= 1) suffixMinPut[i] = Math.min(sorted[i]!.putAt, suffixMinPut[i + 1]!);
    const firstIndexAtOrAfter = (time: number): number => {
      let [low, high] = [0, sorted.length];
      while (low < high) {
        const middle = (low + high) >> 1;
        if ((sorted[middle]!.firstAt ?? Infinity) < time) low = middle + 1;
        else high = middle;
      }
      return low;
    };
    const times = [...new Set(progress)].sort((x, y) => x - y);
    let previous = -Infinity;
    const consider = (until: number, index: number) => {
      const earliestPut = suffixMinPut[index]!;
      const from = Math.max(previous, earliestPut);
      if (from < until && until - from >= minMs) stalls.push({ shard, fromMs: from, toMs: until, ms: until - from });
    };
    for (const time of times) {
      consider(time, firstIndexAtOrAfter(time));
      previous = time;
    }
    // Never processed: waiting until the end of the run.
    const neverIndex = firstIndexAtOrAfter(Infinity);
    if (neverIndex < sorted.length) consider(endAt, neverIndex);
  }
  return stalls.sort((x, y) => y.ms - x.ms);
}
