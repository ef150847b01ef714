import type { FleetMove } from '../fleet-plan.js';

/**
 * The takes a plan gives this worker, carried out a few at a time. A cold start hands each worker
 * hundreds of leases in one plan, and every take reads and writes the namespace's one partition:
 * all at once, they would queue up in DynamoDB past their timeouts (and a table that answers
 * nothing in time helps nobody), so each worker keeps only `concurrency` in flight. A newer move
 * for a lease still waiting replaces the older one.
 */
export class TakeQueue {
  private readonly waiting = new Map<string, FleetMove>();
  private running = 0;

  constructor(
    private readonly concurrency: number,
    private readonly take: (move: FleetMove) => Promise<void>,
    private readonly onError: (error: unknown, move: FleetMove) => void,
  ) {}

  add(move: FleetMove): void {
    this.waiting.delete(move.leaseKey);
    this.waiting.set(move.leaseKey, move);
    this.pump();
  }

  /** Forgets the lease's take if it has not started yet. */
  drop(leaseKey: string): void {
    this.waiting.delete(leaseKey);
  }

  /** Forgets the takes not started yet. */
  clear(): void {
    this.waiting.clear();
  }

  get size(): number {
    return this.waiting.size;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.size > 0) {
      const [leaseKey, move] = this.waiting.entries().next().value!;
      this.waiting.delete(leaseKey);
      this.running += 1;
      void this.take(move)
        .catch((error: unknown) => this.onError(error, move))
        .finally(() => {
          this.running -= 1;
          this.pump();
        });
    }
  }
}
