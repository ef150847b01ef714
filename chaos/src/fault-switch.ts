import type { WorkerFaultKind } from './event-kinds.js';
import { createPrng, type Prng } from './prng.js';

/**
 * The faults a chaos worker's AWS SDK middleware applies, each switched on for a bounded time
 * (the runner asks over IPC; the worker lifts it on its own when the time is up, even if the
 * runner is gone). While a fault is on, each call it applies to is hit with its probability.
 */
export class FaultSwitch {
  private readonly until = new Map<WorkerFaultKind, { readonly untilMs: number; readonly probability: number }>();
  private readonly prng: Prng;

  constructor(
    seed: number,
    private readonly now: () => number = Date.now,
  ) {
    this.prng = createPrng(seed);
  }

  /** Switches `kind` on for `durationMs`; each call it applies to is hit with `probability`. */
  activate(kind: WorkerFaultKind, durationMs: number, probability: number): void {
    this.until.set(kind, { untilMs: this.now() + durationMs, probability });
  }

  /** Whether this call is hit by `kind`. */
  hits(kind: WorkerFaultKind): boolean {
    const fault = this.until.get(kind);
    if (!fault) return false;
    if (this.now() >= fault.untilMs) {
      this.until.delete(kind);
      return false;
    }
    return this.prng.chance(fault.probability);
  }
}
