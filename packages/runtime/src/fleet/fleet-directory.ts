import type { LeadershipRecord, LeaseStore, NamespaceSnapshot, WorkerRecord } from '@shoal/coordinator';
import type { Clock } from '../clock.js';

/** A newer term than the last row seen is read from the table at most this often (forged terms cost no more). */
const LEADERSHIP_RECHECK_MS = 1_000;

/**
 * What the lease table says about the fleet, for judging what arrives over NATS: who is
 * registered (and with which signing key), and who leads in which term. Answers from the last
 * namespace read where it can, and from a consistent point read where that read is silent, so a
 * message is believed only as far as the table confirms it.
 */
export class FleetDirectory {
  private workers = new Map<string, WorkerRecord>();
  private leadership: LeadershipRecord | undefined;
  private leadershipCheckedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: LeaseStore,
    private readonly namespace: string,
    private readonly clock: Clock,
  ) {}

  /** A fresh namespace read. */
  observe(snapshot: NamespaceSnapshot): void {
    this.workers = new Map(snapshot.workers.map((worker) => [worker.workerId, worker]));
    if (snapshot.leadership && (!this.leadership || snapshot.leadership.term >= this.leadership.term))
      this.leadership = snapshot.leadership;
  }

  /** The worker's record as the table has it (undefined: not registered). */
  async worker(workerId: string): Promise<WorkerRecord | undefined> {
    return this.workers.get(workerId) ?? (await this.store.getWorker(this.namespace, workerId));
  }

  /** The key `workerId` signs with, by its record. */
  async keyOf(workerId: string): Promise<string | undefined> {
    return (await this.worker(workerId))?.fleetKey;
  }

  /**
   * Whether the table names `leaderId` as the leader of `term`. A term newer than the last row
   * seen is checked with a fresh read of the row (at most once a second).
   */
  async confirmsLeader(leaderId: string, term: number): Promise<boolean> {
    const known = this.leadership;
    if (known && known.term === term) return known.leaderId === leaderId;
    if (known && known.term > term) return false;
    const now = this.clock.monotonic();
    if (now - this.leadershipCheckedAt < LEADERSHIP_RECHECK_MS) return false;
    this.leadershipCheckedAt = now;
    const row = await this.store.getLeadership(this.namespace);
    if (row && (!this.leadership || row.term >= this.leadership.term)) this.leadership = row;
    return row?.term === term && row.leaderId === leaderId;
  }
}
