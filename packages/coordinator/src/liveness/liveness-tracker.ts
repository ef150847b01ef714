import type { WorkerRecord } from '../lease-table/lease.js';

/**
 * Judges which workers are alive from their heartbeat counters, the way KCL judges leases:
 * a worker is dead when this observer has seen the same heartbeat value for a whole lease
 * duration of its own monotonic clock. No wall clocks are compared across machines.
 */
export class LivenessTracker {
  private readonly observed = new Map<string, { heartbeat: number; incarnation: string; sinceMs: number }>();

  constructor(
    private readonly leaseDurationMs: number,
    private readonly monotonicNow: () => number,
  ) {}

  /**
   * Records a fresh read of the worker records; workers no longer listed are forgotten.
   * `readAt` is when the read returned: a value seen then may have been written just before, so
   * its standing still is counted from then, never from earlier.
   */
  observe(workers: readonly WorkerRecord[], readAt: number = this.monotonicNow()): void {
    const now = readAt;
    const seen = new Set<string>();
    for (const worker of workers) {
      seen.add(worker.workerId);
      const previous = this.observed.get(worker.workerId);
      // A worker that registered again (same id) or changed how it proves liveness starts over:
      // its counter may show a value seen long ago without having stood still since.
      const incarnation = `${worker.startedAt}/${worker.liveness}`;
      if (!previous || previous.heartbeat !== worker.heartbeat || previous.incarnation !== incarnation) {
        this.observed.set(worker.workerId, { heartbeat: worker.heartbeat, incarnation, sinceMs: now });
      }
    }
    for (const workerId of this.observed.keys()) if (!seen.has(workerId)) this.observed.delete(workerId);
  }

  /** True while the worker's record exists and its heartbeat moved within the lease duration. */
  isAlive(workerId: string): boolean {
    const entry = this.observed.get(workerId);
    return entry !== undefined && this.monotonicNow() - entry.sinceMs < this.leaseDurationMs;
  }

  /** The heartbeat this observer saw unchanged for longer than the lease duration, if any. */
  deadHeartbeat(workerId: string): number | undefined {
    const entry = this.observed.get(workerId);
    return entry !== undefined && !this.isAlive(workerId) ? entry.heartbeat : undefined;
  }
}
