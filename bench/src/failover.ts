/**
 * Crash failover: two worker processes (production timings, coordination bus on the shared NATS
 * server) balanced over 16 shards under continuous load; one gets SIGKILL. For every shard the
 * victim held, the gap is the survivor's first batch minus the kill time. Some rounds kill the
 * worker that is not the leader (the leader notices the missing liveness requests and frees the
 * leases), others kill the leader (the survivor must first take leadership over). Lost records
 * are those produced but never processed after a bounded wait; duplicates are expected after a
 * crash (the victim's batches since its last checkpoint) and reported.
 * Target: p99 ≤ 3000 ms with defaults.
 *
 * How long the victim has held its leases matters, so there are two settings: `steady` kills
 * once the fleet has been balanced for FAILOVER_HOLD_MS (default 20 s, longer than the 15 s
 * lease duration), the headline figures; `recent` kills 3 s after the fleet became balanced, i.e.
 * a crash shortly after leases moved.
 *
 * Environment: FAILOVER_ROUNDS (steady rounds of each kind, default 3), FAILOVER_RECENT_ROUNDS
 * (recent rounds of each kind, default 1), FAILOVER_HOLD_MS (20000), FAILOVER_SHARDS (16),
 * FAILOVER_RATE (records/s per shard, 150).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalStack, RecordLedger, uniqueName } from '@shoal/local-stack';
import { FleetRound, shardsOwnedBy, waitFor, waitForBalance, waitForLeader, waitUntilConsuming } from './fleet-processes.js';
import { percentile, printTable, sourceState, writeResult } from './report.js';

const ROUNDS = Number(process.env.FAILOVER_ROUNDS ?? 3);
const RECENT_ROUNDS = Number(process.env.FAILOVER_RECENT_ROUNDS ?? 1);
const HOLD_MS = Number(process.env.FAILOVER_HOLD_MS ?? 20_000);
const SHARDS = Number(process.env.FAILOVER_SHARDS ?? 16);
const RATE_PER_SHARD = Number(process.env.FAILOVER_RATE ?? 150);
const STABLE_MS = 3_000;
const TARGET_P99_MS = 3_000;

type Victim = 'non-leader' | 'leader';
type Hold = 'steady' | 'recent';

interface RoundResult {
  readonly round: number;
  readonly victim: Victim;
  readonly hold: Hold;
  /** How long the fleet had been balanced when the victim was killed. */
  readonly balancedForMs: number;
  readonly killedWorker: string;
  readonly shardsFailedOver: number;
  /** Survivor's first batch − SIGKILL, per shard the victim held. */
  readonly gapsMs: number[];
  /** Longest time between two batches on one of the survivor's own shards, from the kill until the failover was done (+1 s). */
  readonly survivorMaxPauseMs: number;
  readonly produced: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
}

interface Figures {
  readonly label: string;
  readonly rounds: number;
  readonly shards: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly perRound: string;
  readonly survivorMaxPauseMs: number;
}

export async function run(): Promise<void> {
  await using stack = await LocalStack.start();
  const leaseTableName = uniqueName('bench-failover-leases');
  // Alternate the victim, so both kinds see the same conditions on average.
  const plan: { victim: Victim; hold: Hold }[] = [
    ...Array.from({ length: ROUNDS * 2 }, (_, index) => ({ victim: index % 2 === 0 ? 'non-leader' : 'leader', hold: 'steady' }) as const),
    ...Array.from(
      { length: RECENT_ROUNDS * 2 },
      (_, index) => ({ victim: index % 2 === 0 ? 'non-leader' : 'leader', hold: 'recent' }) as const,
    ),
  ];
  const rounds: RoundResult[] = [];
  for (const [index, { victim, hold }] of plan.entries()) {
    const result = await runRound(stack, leaseTableName, index + 1, victim, hold);
    rounds.push(result);
    process.stdout.write(
      `round ${result.round}: killed ${result.killedWorker} (${victim}, balanced for ${(result.balancedForMs / 1000).toFixed(1)} s), ` +
        `${result.shardsFailedOver} shards, gap p50 ${percentile(result.gapsMs, 50)} ms, max ${Math.max(...result.gapsMs)} ms, ` +
        `lost ${result.lost}, duplicates ${result.duplicates}\n`,
    );
  }

  const select = (victim: Victim, hold: Hold) => rounds.filter((round) => round.victim === victim && round.hold === hold);
  const holdLabel = { steady: `balanced ≥ ${HOLD_MS / 1000} s`, recent: `balanced ${STABLE_MS / 1000} s` };
  const nonLeader = pool(`non-leader, ${holdLabel.steady}`, select('non-leader', 'steady'));
  const leader = pool(`leader, ${holdLabel.steady}`, select('leader', 'steady'));
  const recentNonLeader = pool(`non-leader, ${holdLabel.recent}`, select('non-leader', 'recent'));
  const recentLeader = pool(`leader, ${holdLabel.recent}`, select('leader', 'recent'));
  printTable(
    `failover: ${SHARDS} shards, 2 worker processes, SIGKILL one; ~${RATE_PER_SHARD} records/s per shard; production timings (target: p99 ≤ ${TARGET_P99_MS} ms)`,
    [
      [
        'killed',
        'rounds',
        'shards',
        'gap p50 ms',
        'gap p99 ms',
        'gap max ms',
        'per round (p50/max)',
        'lost',
        'duplicates',
        'survivor own shards: max pause ms',
      ],
      ...[nonLeader, leader, recentNonLeader, recentLeader]
        .filter((figures) => figures.rounds > 0)
        .map((figures) => [
          figures.label,
          figures.rounds,
          figures.shards,
          figures.p50Ms,
          figures.p99Ms,
          figures.maxMs,
          figures.perRound,
          figures.lost,
          figures.duplicates,
          figures.survivorMaxPauseMs,
        ]),
    ],
  );
  const summary = ({ p50Ms, p99Ms, maxMs, lost, duplicates, rounds: count, survivorMaxPauseMs }: Figures) => ({
    p50Ms,
    p99Ms,
    maxMs,
    lost,
    duplicates,
    rounds: count,
    survivorMaxPauseMs,
  });
  writeResult('failover', {
    source: sourceState(),
    p50Ms: nonLeader.p50Ms,
    p99Ms: nonLeader.p99Ms,
    maxMs: nonLeader.maxMs,
    lost: nonLeader.lost,
    duplicates: nonLeader.duplicates,
    survivorMaxPauseMs: nonLeader.survivorMaxPauseMs,
    leaderKill: summary(leader),
    afterRecentRebalance: { nonLeader: summary(recentNonLeader), leaderKill: summary(recentLeader) },
    met: {
      nonLeader: nonLeader.p99Ms <= TARGET_P99_MS && nonLeader.lost === 0,
      leaderKill: leader.p99Ms <= TARGET_P99_MS && leader.lost === 0,
    },
    target: { p99Ms: TARGET_P99_MS, lost: 0 },
    gapDefinition: "survivor's first batch − SIGKILL, per shard the killed worker held, pooled over rounds of the same kind",
    holdMs: { steady: HOLD_MS, recent: STABLE_MS },
    shards: SHARDS,
    workers: 2,
    rounds: {
      nonLeader: nonLeader.rounds,
      leader: leader.rounds,
      recentNonLeader: recentNonLeader.rounds,
      recentLeader: recentLeader.rounds,
    },
    recordsPerSecondPerShard: RATE_PER_SHARD,
    timings: 'production defaults (SHOAL_DEFAULT_TIMINGS=1), coordination bus nats://127.0.0.1:4222',
    emulator: 'kinesalite + dynalite',
    perRound: rounds,
  });
}

async function runRound(stack: LocalStack, leaseTableName: string, round: number, victim: Victim, hold: Hold): Promise<RoundResult> {
  const workerIds = [`failover-${round}-a`, `failover-${round}-b`];
  const ledger = new RecordLedger();
  const fleet = await FleetRound.start(stack, ledger, {
    name: `failover-${round}`,
    shards: SHARDS,
    leaseTableName,
    workerIds,
    recordsPerSecond: RATE_PER_SHARD * SHARDS,
  });
  try {
    await waitForBalance(fleet.view, workerIds, SHARDS, { stableMs: STABLE_MS, timeoutMs: 90_000 });
    const balancedAt = Date.now() - STABLE_MS;
    if (hold === 'steady') {
      await sleep(HOLD_MS - STABLE_MS);
      // Still the same balance: nothing moved while waiting.
      await waitForBalance(fleet.view, workerIds, SHARDS, { stableMs: 0, timeoutMs: 30_000 });
    }
    const leaderId = await waitForLeader(fleet.view, workerIds);
    const killed = fleet.worker(victim === 'leader' ? leaderId : workerIds.find((id) => id !== leaderId)!);
    const survivor = fleet.worker(workerIds.find((id) => id !== killed.workerId)!);
    const before = await fleet.view.read();
    const shards = shardsOwnedBy(before, killed.workerId);
    await waitUntilConsuming(killed, shards);

    const killedAt = Date.now();
    const balancedForMs = killedAt - balancedAt;
    killed.kill('SIGKILL');
    await killed.exited;
    await waitFor(() => shards.every((shard) => survivor.firstBatchAfter(shard, killedAt) !== undefined), {
      timeoutMs: 60_000,
      what: `${survivor.workerId} processing every shard of the killed worker`,
    });
    const gapsMs = shards.map((shard) => survivor.firstBatchAfter(shard, killedAt)! - killedAt);
    // The survivor's own shards should not notice; a pause on them shows the survivor stalling too.
    const windowEnd = killedAt + Math.max(...gapsMs) + 1_000;
    await sleep(Math.max(0, windowEnd - Date.now()));
    const survivorShards = shardsOwnedBy(before, survivor.workerId);
    const survivorMaxPauseMs = Math.max(
      ...survivorShards.map((shard) => {
        const times = survivor.batches.filter((batch) => batch.shardId === shard && batch.count > 0).map((batch) => batch.at);
        let longest = 0;
        for (let index = 1; index < times.length; index += 1) {
          if (times[index]! > killedAt && times[index]! <= windowEnd) longest = Math.max(longest, times[index]! - times[index - 1]!);
        }
        return longest;
      }),
    );

    const produced = await fleet.stopLoad();
    if (!(await ledger.waitForAllProcessed(60_000))) process.stdout.write(`round ${round}: not every record processed after 60 s\n`);
    const summary = ledger.summary();
    return {
      round,
      victim,
      hold,
      balancedForMs,
      killedWorker: killed.workerId,
      shardsFailedOver: shards.length,
      gapsMs,
      survivorMaxPauseMs,
      produced,
      lost: summary.lost,
      duplicates: summary.duplicates,
      outOfOrder: summary.outOfOrder,
    };
  } finally {
    await fleet.close();
  }
}

function pool(label: string, rounds: readonly RoundResult[]): Figures {
  const gaps = rounds.flatMap((round) => round.gapsMs);
  return {
    label,
    rounds: rounds.length,
    shards: gaps.length,
    p50Ms: percentile(gaps, 50),
    p99Ms: percentile(gaps, 99),
    maxMs: gaps.length ? Math.max(...gaps) : Number.NaN,
    lost: sum(rounds.map((round) => round.lost)),
    duplicates: sum(rounds.map((round) => round.duplicates)),
    perRound: rounds.map((round) => `${percentile(round.gapsMs, 50)}/${Math.max(...round.gapsMs)}`).join(' '),
    survivorMaxPauseMs: rounds.length ? Math.max(...rounds.map((round) => round.survivorMaxPauseMs)) : Number.NaN,
  };
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
