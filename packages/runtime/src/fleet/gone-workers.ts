import type { NamespaceSnapshot } from '@shoal/coordinator';

/**
 * Workers known to have stopped while their leases still name them, so those leases are free at
 * once rather than after a lease duration. A worker is gone when this observer removed its
 * record itself (dead by its heartbeat, or revoked), or saw its record disappear between two
 * reads: a record disappears only when its worker was revoked (it fenced itself first), removed
 * as dead (its heartbeat stood still past its self-fence) or deregistered (it had stopped). A
 * worker is forgotten once it is listed again (a new incarnation) or owns nothing, so the set
 * stays bounded by the leases.
 */
export class GoneWorkers {
  private readonly gone = new Set<string>();
  private previouslyListed = new Set<string>();

  /** A fresh read of the namespace. */
  observe(snapshot: NamespaceSnapshot): void {
    const listed = new Set(snapshot.workers.map((worker) => worker.workerId));
    const owners = new Set(snapshot.leases.map((lease) => lease.leaseOwner));
    for (const id of this.previouslyListed) if (!listed.has(id) && owners.has(id)) this.gone.add(id);
    this.previouslyListed = listed;
    for (const id of this.gone) if (listed.has(id) || !owners.has(id)) this.gone.delete(id);
  }

  /** This observer removed or revoked the worker's record itself. */
  add(workerId: string): void {
    this.gone.add(workerId);
    this.previouslyListed.delete(workerId);
  }

  has(workerId: string): boolean {
    return this.gone.has(workerId);
  }

  get ids(): ReadonlySet<string> {
    return this.gone;
  }

  get size(): number {
    return this.gone.size;
  }
}
