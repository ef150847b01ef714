import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatReport, resultJson, runChaos, writeResultJson } from '@shoal/chaos';
import { describe, expect, it } from 'vitest';

/**
 * The chaos suite's short run: the same runner as `pnpm chaos`, for 2 minutes of load with a
 * fixed seed (kills and pauses of workers and of the leader, a graceful stop, a NATS partition, a
 * NATS restart, a split). The worker processes run the built packages (scripts/test.sh builds
 * first). The shared log, the workers' logs and the report stay in
 * bench/results/chaos-runs/ci-seed-<seed>/ for a look after a failure.
 */
const SEED = 3;
const MINUTES = 2;
const RUN_DIR = fileURLToPath(new URL(`../bench/results/chaos-runs/ci-seed-${SEED}/`, import.meta.url));

describe('chaos', () => {
  it(`a ${MINUTES}-minute run (seed ${SEED}) loses nothing, keeps each key in order, never overlaps an owner, refuses stale checkpoints, and stalls within the bound`, async () => {
    const result = await runChaos({ seed: SEED, minutes: MINUTES, runDir: RUN_DIR });
    writeResultJson(join(RUN_DIR, 'chaos.json'), resultJson(result.report, result));
    process.stdout.write(`\n${formatReport(result.report, result)}\n`);
    const { report } = result;
    expect(report.produced).toBeGreaterThan(0);
    expect(Object.keys(report.events).length).toBeGreaterThan(0);
    expect({
      lost: report.lost,
      orderViolations: report.orderViolations,
      overlappingBatches: report.overlappingBatches,
      staleCheckpointsAccepted: report.staleCheckpointsAccepted,
    }).toEqual({ lost: 0, orderViolations: 0, overlappingBatches: 0, staleCheckpointsAccepted: 0 });
    expect(report.maxStallMs).toBeLessThanOrEqual(report.stallBoundMs);
  }, 300_000);
});
