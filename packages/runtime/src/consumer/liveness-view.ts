/** The worker's liveness as a shard consumer sees it. */
export interface LivenessView {
  /** True once the worker may not process: its deadline passed (by either clock). */
  isFenced(): boolean;
  /** Milliseconds until the deadline as it stands; 0 once fenced. */
  remainingMs(): number;
  /**
   * Aborts when the current period of confirmed liveness ends. Once liveness is confirmed again,
   * a later call returns a fresh signal.
   */
  signal(): AbortSignal;
}
