import type { WorkerLoad } from '../assignment/worker-load.js';

/**
 * Where workers publish their load and the planner reads the fleet's. Loads are fast and
 * disposable: a store whose backend is down reports nothing and reads an empty map, and the
 * planner then balances by lease count alone.
 */
export interface WorkerLoadStore {
  /**
   * Publishes `workerId`'s latest load for `application`; it counts as fresh until the store's
   * expiry passes without another report. Resolves (never rejects) when the backend is down.
   */
  report(application: string, workerId: string, load: WorkerLoad): Promise<void>;
  /** Every fresh load of `application`, by worker id. Empty when the backend is down. */
  readAll(application: string): Promise<Map<string, WorkerLoad>>;
  close(): Promise<void>;
}

/** A {@link WorkerLoadStore} in process memory, for tests and single-process setups. */
export class InMemoryWorkerLoadStore implements WorkerLoadStore {
  private readonly entries = new Map<string, Map<string, { load: WorkerLoad; expiresAt: number }>>();

  /**
   * @param expiryMs How long a report stays fresh. Default 15 000.
   * @param now Clock in milliseconds. Default `Date.now`.
   */
  constructor(
    private readonly expiryMs = 15_000,
    private readonly now: () => number = Date.now,
  ) {}

  async report(application: string, workerId: string, load: WorkerLoad): Promise<void> {
    let loads = this.entries.get(application);
    if (loads === undefined) this.entries.set(application, (loads = new Map()));
    loads.set(workerId, { load: { ...load }, expiresAt: this.now() + this.expiryMs });
  }

  async readAll(application: string): Promise<Map<string, WorkerLoad>> {
    const fresh = new Map<string, WorkerLoad>();
    const loads = this.entries.get(application);
    if (loads === undefined) return fresh;
    const now = this.now();
    for (const [workerId, entry] of loads) {
      if (entry.expiresAt > now) fresh.set(workerId, { ...entry.load });
      else loads.delete(workerId);
    }
    return fresh;
  }

  async close(): Promise<void> {}
}
