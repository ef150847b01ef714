import type { Clock } from '../clock.js';

/**
 * What this worker knows about its own liveness: when its last successful heartbeat started.
 * Past `selfFenceAfterMs` from then, the worker must stop processing on its own, because other
 * workers may soon judge it dead and take its leases.
 */
export class WorkerLiveness {
  private confirmedAtMs: number;

  constructor(
    private readonly selfFenceAfterMs: number,
    private readonly clock: Clock,
  ) {
    this.confirmedAtMs = clock.monotonic();
  }

  /** A heartbeat (or registration) that started at `startedAtMs` succeeded. */
  confirm(startedAtMs: number): void {
    this.confirmedAtMs = Math.max(this.confirmedAtMs, startedAtMs);
  }

  isFenced(): boolean {
    return this.clock.monotonic() - this.confirmedAtMs > this.selfFenceAfterMs;
  }
}
