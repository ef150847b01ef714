import { minuteNeed } from './scaling-planner.js';
import type { ScalingRules } from './scaling-rules.js';
import { HASH_KEY_BINS, trafficMedianHashKey, type ShardTrafficMinute } from './traffic/shard-traffic.js';

/** An open shard and its recent traffic. */
export interface ShardLoad {
  readonly shardId: string;
  readonly startingHashKey: bigint;
  readonly endingHashKey: bigint;
  /** Its traffic a window, oldest first, ending at the last whole window (missing windows as none). */
  readonly windows: readonly ShardTrafficMinute[];
}

export interface ShardSplit {
  readonly shardId: string;
  /** The first hash key of the upper child: the shard's traffic median, or its range's midpoint. */
  readonly newStartingHashKey: string;
  readonly reasons: readonly string[];
}

export interface ShardMerge {
  readonly shardId: string;
  readonly adjacentShardId: string;
  readonly reasons: readonly string[];
}

/** What the planner knows beyond the traffic. */
export interface HotShardContext {
  /** Open shards made by a split in the last 24 hours. */
  readonly recentlySplit?: ReadonlySet<string>;
}

/** A shard with this share of its traffic in one bin after a split holds a hot key. */
const HOT_KEY_SHARE = 0.8;

export interface HotShardPlan {
  readonly splits: readonly ShardSplit[];
  readonly merges: readonly ShardMerge[];
  readonly reasons: readonly string[];
}

const percent = (fraction: number) => `${Math.round(fraction * 100)} %`;

/**
 * Plans splits and merges shard by shard instead of a uniform count: a shard whose own
 * utilisation stayed at or above `upThreshold` for `upSustainMinutes` windows is split where its
 * traffic divides in half (from its hash key bins; the midpoint of its range when none were
 * counted), and two adjacent shards whose utilisation together stayed below `downThreshold` for
 * `downSustainMinutes` windows are merged. Within `minShards` and `maxShards`, hottest first,
 * coldest first; the kill switch holds everything.
 */
export function planHotShards(shards: readonly ShardLoad[], rules: ScalingRules, context: HotShardContext = {}): HotShardPlan {
  if (!rules.enabled) return { splits: [], merges: [], reasons: ['autoscaling is switched off: the shards are held'] };
  // A window nobody measured (before the shard existed, Redis away) is neither hot nor cold.
  const utilisations = (shard: ShardLoad, count: number) =>
    shard.windows
      .slice(-count)
      .map((window) => (window.measured === false ? Number.NaN : minuteNeed(window, rules.pollingConsumers).shards));
  let open = shards.length;

  const hot = shards
    .map((shard) => ({ shard, recent: utilisations(shard, rules.upSustainMinutes) }))
    .filter(({ recent }) => recent.length >= rules.upSustainMinutes && recent.every((u) => u >= rules.upThreshold))
    .sort((a, b) => Math.min(...b.recent) - Math.min(...a.recent));
  const splits: ShardSplit[] = [];
  const notSplit: string[] = [];
  for (const { shard, recent } of hot) {
    if (open >= rules.maxShards) break;
    const bins = sumBins(shard.windows.slice(-rules.upSustainMinutes));
    const counted = bins.some((count) => count > 0);
    const total = bins.reduce((sum, count) => sum + count, 0);
    if (context.recentlySplit?.has(shard.shardId) && counted && Math.max(...bins) >= HOT_KEY_SHARE * total) {
      // Still hot after its parent was split, its traffic in one narrow range: most likely one
      // key, which no split can divide. Splitting again would only churn.
      notSplit.push(
        `${shard.shardId} is still hot after its parent was split, with ${Math.round((100 * Math.max(...bins)) / total)} % of its traffic in one 64th of its range: a hot key, not split again`,
      );
      continue;
    }
    const at = trafficMedianHashKey(bins, shard.startingHashKey, shard.endingHashKey);
    splits.push({
      shardId: shard.shardId,
      newStartingHashKey: at.toString(),
      reasons: [
        `${shard.shardId} ran at ${recent.map(percent).join(', ')} of one shard in the last ${rules.upSustainMinutes} window(s), at or above ${percent(rules.upThreshold)}`,
        counted
          ? `split at its traffic median hash key ${at}, so each child gets about half`
          : `no hash keys were counted: split at the midpoint of its range, ${at}`,
      ],
    });
    open += 1;
  }

  const split = new Set(splits.map((entry) => entry.shardId));
  const ordered = [...shards].sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : 1));
  const pairs: { low: ShardLoad; high: ShardLoad; together: number[] }[] = [];
  for (let index = 0; index + 1 < ordered.length; index += 1) {
    const low = ordered[index]!;
    const high = ordered[index + 1]!;
    if (low.endingHashKey + 1n !== high.startingHashKey || split.has(low.shardId) || split.has(high.shardId)) continue;
    const a = utilisations(low, rules.downSustainMinutes);
    const b = utilisations(high, rules.downSustainMinutes);
    if (a.length < rules.downSustainMinutes || b.length < rules.downSustainMinutes) continue;
    const together = a.map((u, i) => u + b[i]!);
    if (together.every((u) => u < rules.downThreshold)) pairs.push({ low, high, together });
  }
  pairs.sort((x, y) => Math.max(...x.together) - Math.max(...y.together));
  const merges: ShardMerge[] = [];
  const merged = new Set<string>();
  for (const { low, high, together } of pairs) {
    if (open <= rules.minShards) break;
    if (merged.has(low.shardId) || merged.has(high.shardId)) continue;
    merged.add(low.shardId).add(high.shardId);
    merges.push({
      shardId: low.shardId,
      adjacentShardId: high.shardId,
      reasons: [
        `${low.shardId} and ${high.shardId} together ran at most at ${percent(Math.max(...together))} of one shard in the last ${rules.downSustainMinutes} window(s), below ${percent(rules.downThreshold)}: merge them`,
      ],
    });
    open -= 1;
  }
  const reasons = [...notSplit];
  reasons.push(
    ...(splits.length + merges.length === 0
      ? [
          `no shard at or above ${percent(rules.upThreshold)} for ${rules.upSustainMinutes} window(s), no adjacent pair below ${percent(rules.downThreshold)} for ${rules.downSustainMinutes}`,
        ]
      : [`${splits.length} split(s) and ${merges.length} merge(s): ${shards.length} → ${open} shards`]),
  );
  return { splits, merges, reasons };
}

function sumBins(windows: readonly ShardTrafficMinute[]): number[] {
  const bins = new Array<number>(HASH_KEY_BINS).fill(0);
  for (const window of windows) window.hashKeyBins.forEach((count, bin) => (bins[bin]! += count));
  return bins;
}
