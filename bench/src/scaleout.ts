/**
 * Scale-out: 64 shards held 16 each by four worker processes (production timings, coordination
 * bus on the shared NATS server); a fifth process starts. convergeMs runs from the fifth
 * printing `event started` until a consistent read of the lease table (polled every 20 ms)
 * shows every lease owned and each of the five holding ⌊64/5⌋ or ⌈64/5⌉ leases. moves is the
 * sum over leases of the lease-counter increase between the balanced 4-worker table and the
 * 5-worker table 3 s after convergence (every ownership change adds one, so a release followed
 * by a take counts two); minimumMoves is what count balancing needs (12 here: each of the four
 * gives 3, the newcomer gets 12). Target: convergeMs ≤ 2000, moves = minimumMoves.
 *
 * With light load (the default), the table also shows processingMs: from the same start until
 * the newcomer has processed a batch on every lease it got, i.e. until the moved leases really
 * run there and not just belong there.
 *
 * Environment: SCALEOUT_ROUNDS (default 3), SCALEOUT_SHARDS (64), SCALEOUT_WORKERS (workers
 * before the newcomer, 4), SCALEOUT_RATE (records/s per shard, default 5; 0 for no load).
 */
import type { NamespaceSnapshot } from '@shoal/coordinator';
import { LocalStack, RecordLedger, uniqueName } from '@shoal/local-stack';
import { setTimeout as sleep } from 'node:timers/promises';
import { FleetRound, leasesPerOwner, shardsOwnedBy, waitFor, waitForBalance } from './fleet-processes.js';
import { median, printTable, sourceState, writeResult } from './report.js';

const ROUNDS = Number(process.env.SCALEOUT_ROUNDS ?? 3);
const SHARDS = Number(process.env.SCALEOUT_SHARDS ?? 64);
const WORKERS = Number(process.env.SCALEOUT_WORKERS ?? 4);
const RATE_PER_SHARD = Number(process.env.SCALEOUT_RATE ?? 5);
const POLL_MS = 20;
const CONVERGE_TIMEOUT_MS = 60_000;
const TARGET_CONVERGE_MS = 2_000;

interface RoundResult {
  readonly round: number;
  /** Undefined when the fleet did not converge within the bound. */
  readonly convergeMs: number | undefined;
  readonly moves: number;
  /** Leases whose owner differs between the two tables. */
  readonly ownersChanged: number;
  /** Leases whose counter grew more than their owner changes explain, with how. */
  readonly extraMoves: Record<string, string>;
  readonly toNewcomer: number;
  /** Started → the newcomer processed a batch on every lease it got; undefined without load or when it never did. */
  readonly processingMs: number | undefined;
  /** Leases per worker once converged (+3 s), newcomer last. */
  readonly finalCounts: number[];
  readonly polls: number;
}

export async function run(): Promise<void> {
  const minimumMoves = minimumMovesFor(SHARDS, WORKERS);
  await using stack = await LocalStack.start({ shardLimit: Math.max(200, SHARDS * 2) });
  const leaseTableName = uniqueName('bench-scaleout-leases');
  const rounds: RoundResult[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const result = await runRound(stack, leaseTableName, round);
    rounds.push(result);
    process.stdout.write(
      `round ${round}: converged in ${result.convergeMs ?? 'n/a'} ms, moves ${result.moves} (owners changed ${result.ownersChanged}), final ${result.finalCounts.join('/')}\n`,
    );
  }

  const converged = rounds.map((round) => round.convergeMs).filter((ms): ms is number => ms !== undefined);
  const convergeMs = converged.length === rounds.length ? Math.max(...converged) : null;
  const moves = Math.max(...rounds.map((round) => round.moves));
  const processing = rounds.map((round) => round.processingMs).filter((ms): ms is number => ms !== undefined);
  const processingMs = RATE_PER_SHARD > 0 && processing.length === rounds.length ? Math.max(...processing) : null;
  printTable(
    `scale-out: ${SHARDS} shards, ${WORKERS} → ${WORKERS + 1} worker processes, production timings, ${RATE_PER_SHARD ? `~${RATE_PER_SHARD} records/s per shard` : 'no load'} (target: ≤ ${TARGET_CONVERGE_MS} ms, moves = ${minimumMoves})`,
    [
      ['round', 'converge ms', 'moves', 'minimum', 'owners changed', 'to newcomer', 'final counts', 'newcomer processing ms'],
      ...rounds.map((round) => [
        String(round.round),
        round.convergeMs ?? 'not converged',
        round.moves,
        minimumMoves,
        round.ownersChanged,
        round.toNewcomer,
        round.finalCounts.join('/'),
        round.processingMs ?? 'n/a',
      ]),
      ['worst', convergeMs ?? 'not converged', moves, minimumMoves, '', '', '', processingMs ?? 'n/a'],
      ['median', converged.length ? median(converged) : 'n/a', median(rounds.map((round) => round.moves)), minimumMoves, '', '', '', ''],
    ],
  );
  writeResult('scaleout', {
    source: sourceState(),
    convergeMs,
    moves,
    minimumMoves,
    convergeMsMedian: converged.length ? median(converged) : null,
    processingMs,
    aggregation: 'convergeMs, moves and processingMs are the worst round',
    processingDefinition: "newcomer's `event started` → it processed a batch on every lease it got (needs load)",
    met: convergeMs !== null && convergeMs <= TARGET_CONVERGE_MS && moves === minimumMoves,
    target: { convergeMs: TARGET_CONVERGE_MS, moves: minimumMoves },
    shards: SHARDS,
    workers: { before: WORKERS, after: WORKERS + 1 },
    rounds: ROUNDS,
    pollMs: POLL_MS,
    recordsPerSecondPerShard: RATE_PER_SHARD,
    timings: 'production defaults (SHOAL_DEFAULT_TIMINGS=1), coordination bus nats://127.0.0.1:4222',
    emulator: 'kinesalite + dynalite',
    perRound: rounds,
  });
}

async function runRound(stack: LocalStack, leaseTableName: string, round: number): Promise<RoundResult> {
  const workerIds = Array.from({ length: WORKERS }, (_, index) => `scaleout-${round}-${String.fromCharCode(97 + index)}`);
  const newcomerId = `scaleout-${round}-new`;
  const fleet = await FleetRound.start(stack, new RecordLedger(), {
    name: `scaleout-${round}`,
    shards: SHARDS,
    leaseTableName,
    workerIds,
    recordsPerSecond: RATE_PER_SHARD * SHARDS,
  });
  try {
    const before = await waitForBalance(fleet.view, workerIds, SHARDS, { stableMs: 3_000, timeoutMs: 120_000 });
    const allIds = [...workerIds, newcomerId];
    const newcomer = fleet.spawn(newcomerId);
    const startedAt = await newcomer.waitForEvent('started', 30_000);

    let convergedAt: number | undefined;
    let polls = 0;
    const deadline = startedAt + CONVERGE_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const pollStarted = Date.now();
      const snapshot = await fleet.view.read();
      polls += 1;
      if (isBalanced(snapshot, allIds)) {
        convergedAt = Date.now();
        break;
      }
      await sleep(Math.max(0, pollStarted + POLL_MS - Date.now()));
    }
    let processingMs: number | undefined;
    if (RATE_PER_SHARD > 0 && convergedAt !== undefined) {
      const received = shardsOwnedBy(await fleet.view.read(), newcomerId);
      await waitFor(() => received.every((shard) => newcomer.firstBatchAfter(shard, 0) !== undefined), {
        timeoutMs: 30_000,
        what: `${newcomerId} processing every lease it got`,
      }).then(
        () => (processingMs = Math.max(...received.map((shard) => newcomer.firstBatchAfter(shard, 0)!)) - startedAt),
        () =>
          process.stdout.write(
            `round ${round}: ${newcomerId} never processed ${received.filter((shard) => newcomer.firstBatchAfter(shard, 0) === undefined).join(', ')}\n`,
          ),
      );
    }
    // Moves are counted once the fleet had time to stop moving.
    await sleep(3_000);
    const after = await fleet.view.read();
    const counterBefore = new Map(before.leases.map((lease) => [lease.leaseKey, lease]));
    let moves = 0;
    let ownersChanged = 0;
    const extraMoves: Record<string, string> = {};
    for (const lease of after.leases) {
      const previous = counterBefore.get(lease.leaseKey);
      const bumps = lease.leaseCounter - (previous?.leaseCounter ?? 0);
      const changed = previous?.leaseOwner !== lease.leaseOwner;
      moves += bumps;
      if (changed) ownersChanged += 1;
      // More than one ownership change for one move, or a change that came back to the same owner.
      if (bumps > (changed ? 1 : 0)) extraMoves[lease.shardId] = `${previous?.leaseOwner} → ${lease.leaseOwner}, counter +${bumps}`;
    }
    const counts = leasesPerOwner(after);
    return {
      round,
      convergeMs: convergedAt === undefined ? undefined : convergedAt - startedAt,
      moves,
      ownersChanged,
      toNewcomer: counts.get(newcomerId) ?? 0,
      processingMs,
      extraMoves,
      finalCounts: allIds.map((id) => counts.get(id) ?? 0),
      polls,
    };
  } finally {
    await fleet.close();
  }
}

/** Every lease owned by one of the workers, each holding ⌊N/W⌋ or ⌈N/W⌉. */
function isBalanced(snapshot: NamespaceSnapshot, workerIds: readonly string[]): boolean {
  if (snapshot.leases.length !== SHARDS) return false;
  const counts = leasesPerOwner(snapshot);
  const low = Math.floor(SHARDS / workerIds.length);
  const high = Math.ceil(SHARDS / workerIds.length);
  return (
    snapshot.leases.every((lease) => lease.leaseOwner !== undefined && workerIds.includes(lease.leaseOwner)) &&
    workerIds.every((id) => (counts.get(id) ?? 0) >= low && (counts.get(id) ?? 0) <= high)
  );
}

/**
 * Fewest lease moves from `workers` workers holding `shards / workers` each to `workers + 1`
 * balanced ones: the newcomer needs ⌊N/(W+1)⌋, and each old worker must come down to ⌈N/(W+1)⌉.
 */
function minimumMovesFor(shards: number, workers: number): number {
  const per = shards / workers;
  const high = Math.ceil(shards / (workers + 1));
  return Math.max(Math.floor(shards / (workers + 1)), workers * Math.max(0, per - high));
}
