import type { FleetMove } from '../fleet-plan.js';

/**
 * The takes a plan gives this worker, carried out a few at a time. A cold start hands each worker
 * hundreds of leases in one plan, and every take reads and writes the namespace's one partition:
 * all at once, they would queue up in DynamoDB past their timeouts (and a table that answers
 * nothing in time helps nobody), so each worker keeps only `concurrency` in flight. A newer move
 * for a lease still waiting replaces the older one; the same move again keeps its place.
 */
export class TakeQueue {
  private readonly waiting = new Map<string, FleetMove>();
  /** The move of each lease being carried out (the latest, should two of one lease run). */
  private readonly inFlight = new Map<string, FleetMove>();
  private running = 0;

  constructor(
    private readonly concurrency: number,
    private readonly take: (move: FleetMove) => Promise<void>,
    private readonly onError: (error: unknown, move: FleetMove) => void,
  ) {}

  add(move: FleetMove): void {
    // The same move again (a plan sent again) keeps its place.
    if (sameMove(this.inFlight.get(move.leaseKey), move) || sameMove(this.waiting.get(move.leaseKey), move)) return;
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
      this.inFlight.set(leaseKey, move);
      void this.take(move)
        .catch((error: unknown) => this.onError(error, move))
        .finally(() => {
          this.running -= 1;
          if (this.inFlight.get(leaseKey) === move) this.inFlight.delete(leaseKey);
          this.pump();
        });
    }
  }
}

function sameMove(a: FleetMove | undefined, b: FleetMove): boolean {
  return a !== undefined && a.to === b.to && a.from === b.from && a.leaseCounter === b.leaseCounter && a.kind === b.kind;
}
