/**
 * Graceful handoff: 16 shards, two worker processes (production timings, coordination bus on
 * the shared NATS server) balanced 8/8 under continuous load; then one gets SIGTERM. For every
 * shard the leaving worker held, the gap is the new owner's first batch minus the old owner's
 * last batch (both as the processes stamped them); the table also shows SIGTERM → the new
 * owner's first batch. Rounds run on fresh streams, alternating which worker leaves, and their
 * gaps are pooled. Lost and repeated records come from a ledger of every record produced.
 * Target: p99 ≤ 250 ms, nothing lost, nothing repeated.
 *
 * Environment: HANDOFF_ROUNDS (default 3), HANDOFF_SHARDS (16), HANDOFF_RATE (records/s per
 * shard, 150).
 */
import { LocalStack, RecordLedger, uniqueName } from '@shoal/local-stack';
import { FleetRound, percentile, shardsOwnedBy, waitFor, waitForBalance } from './fleet-processes.js';
import { printTable, writeResult } from './report.js';

const ROUNDS = Number(process.env.HANDOFF_ROUNDS ?? 3);
const SHARDS = Number(process.env.HANDOFF_SHARDS ?? 16);
const RATE_PER_SHARD = Number(process.env.HANDOFF_RATE ?? 150);
const TARGET_P99_MS = 250;

interface RoundResult {
  readonly round: number;
  readonly leavingWorker: string;
  readonly leavingWasLeader: boolean;
  readonly shardsHandedOff: number;
  /** New owner's first batch − old owner's last batch, per shard. */
  readonly gapsMs: number[];
  /** New owner's first batch − SIGTERM, per shard. */
  readonly fromSigtermMs: number[];
  /** SIGTERM → the leaving process exited. */
  readonly exitMs: number;
  readonly exitCode: number | string;
  readonly produced: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
}

export async function run(): Promise<void> {
  await using stack = await LocalStack.start();
  const leaseTableName = uniqueName('bench-handoff-leases');
  const rounds: RoundResult[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const result = await runRound(stack, leaseTableName, round);
    rounds.push(result);
    process.stdout.write(
      `round ${round}: ${result.leavingWorker} left${result.leavingWasLeader ? ' (leader)' : ''}, ` +
        `${result.shardsHandedOff} shards, gap p50 ${percentile(result.gapsMs, 50)} ms, max ${Math.max(...result.gapsMs)} ms, ` +
        `lost ${result.lost}, duplicates ${result.duplicates}\n`,
    );
  }

  const gaps = rounds.flatMap((round) => round.gapsMs);
  const fromSigterm = rounds.flatMap((round) => round.fromSigtermMs);
  const lost = sum(rounds.map((round) => round.lost));
  const duplicates = sum(rounds.map((round) => round.duplicates));
  const p50Ms = percentile(gaps, 50);
  const p99Ms = percentile(gaps, 99);
  printTable(
    `handoff: ${SHARDS} shards, 2 worker processes, SIGTERM one; ~${RATE_PER_SHARD} records/s per shard; production timings; ${ROUNDS} rounds`,
    [
      ['round', 'leaving', 'shards', 'gap p50 ms', 'gap p99 ms', 'gap max', 'SIGTERM→first p50', 'SIGTERM→first p99', 'exit ms', 'produced', 'lost', 'dup'],
      ...rounds.map((round) => [
        String(round.round),
        `${round.leavingWorker}${round.leavingWasLeader ? ' (leader)' : ''}`,
        round.shardsHandedOff,
        percentile(round.gapsMs, 50),
        percentile(round.gapsMs, 99),
        Math.max(...round.gapsMs),
        percentile(round.fromSigtermMs, 50),
        percentile(round.fromSigtermMs, 99),
        round.exitMs,
        round.produced,
        round.lost,
        round.duplicates,
      ]),
      [
        'all (target p99 ≤ 250, 0 lost, 0 dup)',
        '',
        gaps.length,
        p50Ms,
        p99Ms,
        Math.max(...gaps),
        percentile(fromSigterm, 50),
        percentile(fromSigterm, 99),
        '',
        sum(rounds.map((round) => round.produced)),
        lost,
        duplicates,
      ],
    ],
  );
  writeResult('handoff', {
    p50Ms,
    p99Ms,
    maxMs: Math.max(...gaps),
    lost,
    duplicates,
    outOfOrder: sum(rounds.map((round) => round.outOfOrder)),
    fromSigterm: { p50Ms: percentile(fromSigterm, 50), p99Ms: percentile(fromSigterm, 99), maxMs: Math.max(...fromSigterm) },
    met: p99Ms <= TARGET_P99_MS && lost === 0 && duplicates === 0,
    target: { p99Ms: TARGET_P99_MS, lost: 0, duplicates: 0 },
    gapDefinition: "new owner's first batch − old owner's last batch, per shard the leaving worker held, pooled over rounds",
    shards: SHARDS,
    workers: 2,
    rounds: ROUNDS,
    recordsPerSecondPerShard: RATE_PER_SHARD,
    timings: 'production defaults (SHOAL_DEFAULT_TIMINGS=1), coordination bus nats://127.0.0.1:4222',
    emulator: 'kinesalite + dynalite',
    perRound: rounds,
  });
}

async function runRound(stack: LocalStack, leaseTableName: string, round: number): Promise<RoundResult> {
  const workerIds = [`handoff-${round}-a`, `handoff-${round}-b`];
  const ledger = new RecordLedger();
  const fleet = await FleetRound.start(stack, ledger, {
    name: `handoff-${round}`,
    shards: SHARDS,
    leaseTableName,
    workerIds,
    recordsPerSecond: RATE_PER_SHARD * SHARDS,
  });
  try {
    const settled = await waitForBalance(fleet.view, workerIds, SHARDS, { stableMs: 3_000, timeoutMs: 90_000 });
    const leaving = fleet.worker(workerIds[(round - 1) % 2]!);
    const staying = fleet.worker(workerIds[round % 2]!);
    const shards = shardsOwnedBy(settled, leaving.workerId);
    // Both sides must be consuming before the handoff, or "last batch" means nothing.
    await waitFor(
      () => shards.every((shard) => (leaving.lastBatchAt(shard) ?? 0) > Date.now() - 2_000),
      { timeoutMs: 20_000, what: `${leaving.workerId} consuming all its shards` },
    );

    const sigtermAt = Date.now();
    leaving.kill('SIGTERM');
    const exitCode = await Promise.race([leaving.exited, timeout(30_000, `${leaving.workerId} exiting after SIGTERM`)]);
    const exitMs = Date.now() - sigtermAt;
    await waitFor(
      () => shards.every((shard) => staying.firstBatchAfter(shard, leaving.lastBatchAt(shard) ?? sigtermAt) !== undefined),
      { timeoutMs: 30_000, what: `${staying.workerId} processing every shard handed over` },
    );
    const gapsMs: number[] = [];
    const fromSigtermMs: number[] = [];
    for (const shard of shards) {
      const lastOld = leaving.lastBatchAt(shard) ?? sigtermAt;
      const firstNew = staying.firstBatchAfter(shard, lastOld)!;
      gapsMs.push(firstNew - lastOld);
      fromSigtermMs.push(firstNew - sigtermAt);
    }

    const produced = await fleet.stopLoad();
    if (!(await ledger.waitForAllProcessed(60_000))) process.stdout.write(`round ${round}: not every record processed after 60 s\n`);
    const summary = ledger.summary();
    return {
      round,
      leavingWorker: leaving.workerId,
      leavingWasLeader: settled.leadership?.leaderId === leaving.workerId,
      shardsHandedOff: shards.length,
      gapsMs,
      fromSigtermMs,
      exitMs,
      exitCode,
      produced,
      lost: summary.lost,
      duplicates: summary.duplicates,
      outOfOrder: summary.outOfOrder,
    };
  } finally {
    await fleet.close();
  }
}

function timeout(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms).unref());
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
