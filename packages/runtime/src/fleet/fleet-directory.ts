import { verifyMessage, type LeadershipRecord, type LeaseStore, type NamespaceSnapshot, type WorkerRecord } from '@shoal/coordinator';
import type { Clock } from '../clock.js';

/** A newer term than the last row seen is read from the table at most this often (forged terms cost no more). */
const LEADERSHIP_RECHECK_MS = 1_000;
/** A worker's record read on its own is trusted this long; one whose signature fails is read again sooner. */
const WORKER_RECORD_TTL_MS = 30_000;
/** A signature that fails against a known key is checked against a fresh read at most this often per worker. */
const KEY_RECHECK_MS = 1_000;

/** Beyond this many remembered records, those older than their time to live are dropped. */
const MAX_REMEMBERED_WORKERS = 1_000;

interface KnownWorker {
  readonly record: WorkerRecord | undefined;
  readonly readAt: number;
  /** The leadership term known when the record was read. */
  readonly termWhenRead: number | undefined;
}

/**
 * What the lease table says about the fleet, for judging what arrives over NATS: who is
 * registered (and with which signing key), and who leads in which term. Answers from the last
 * namespace read, the leader's grants and point reads it made itself, reading a record or the
 * leadership row where those are silent or old, so a message is believed only as far as the
 * table confirms it. A worker that hears the leader reads no namespace: this is its whole view.
 */
export class FleetDirectory {
  private readonly workers = new Map<string, KnownWorker>();
  private leadership: LeadershipRecord | undefined;
  private leadershipCheckedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: LeaseStore,
    private readonly namespace: string,
    private readonly clock: Clock,
  ) {}

  /** A fresh namespace read. */
  observe(snapshot: NamespaceSnapshot): void {
    const now = this.clock.monotonic();
    this.workers.clear();
    for (const worker of snapshot.workers) this.workers.set(worker.workerId, { record: worker, readAt: now, termWhenRead: this.term() });
    if (snapshot.leadership) this.observeLeadership(snapshot.leadership, { fromTable: true });
  }

  /**
   * The leadership row as a read (`fromTable`) or a grant of its leader showed it. A read is
   * taken as it is, even with a lower term than before: a leadership row deleted or restored
   * from a backup starts its terms again, and the table is the truth. A grant only moves the
   * term on: an old leader's grant may arrive after the new one's.
   */
  observeLeadership(row: LeadershipRecord, { fromTable = false }: { readonly fromTable?: boolean } = {}): void {
    if (fromTable || !this.leadership || row.term >= this.leadership.term) this.leadership = row;
  }

  /**
   * Whether the leader, as last seen, lists the streams it consumes and `streamName` is not among
   * them. False while the leader or its record is unknown: the leader is then trusted with it.
   */
  leaderLeavesOut(streamName: string): boolean {
    const leaderId = this.leadership?.leaderId;
    const streams = leaderId === undefined ? undefined : this.workers.get(leaderId)?.record?.streams;
    return streams !== undefined && !streams.includes(streamName);
  }

  /** The worker's record as the table has it (undefined: not registered). */
  async worker(workerId: string): Promise<WorkerRecord | undefined> {
    const known = this.workers.get(workerId);
    // A worker not registered, or leaving, may be back under the same id any moment: only an
    // active record is trusted for long.
    const ttlMs = known?.record?.status === 'active' ? WORKER_RECORD_TTL_MS : KEY_RECHECK_MS;
    if (known && this.clock.monotonic() - known.readAt < ttlMs) return known.record;
    return this.read(workerId);
  }

  /**
   * Whether `message` carries `workerId`'s signature under the key its record holds. A worker
   * that registered again since its record was read signs with a new key: a failed check is
   * repeated once against a fresh read of the record.
   */
  async signedBy(message: { readonly mac?: string }, workerId: string, term: number): Promise<boolean> {
    if (verifyMessage(message, (await this.worker(workerId))?.fleetKey)) return true;
    // A leader that registered again has a new key and a new term: a record read during that
    // term already has the key, so a failing signature is a forgery, not worth a read.
    const known = this.workers.get(workerId);
    if (known && (known.termWhenRead === term || this.clock.monotonic() - known.readAt < KEY_RECHECK_MS)) return false;
    return verifyMessage(message, (await this.read(workerId))?.fleetKey);
  }

  /**
   * Whether the table names `leaderId` as the leader of `term`. A term newer than the last row
   * seen is checked with a fresh read of the row (at most once a second).
   */
  async confirmsLeader(leaderId: string, term: number): Promise<boolean> {
    const known = this.leadership;
    if (known && known.term === term) return known.leaderId === leaderId;
    // Any other term is checked against the row: a newer one, or an older one after the row was
    // deleted or restored (its terms start again).
    const now = this.clock.monotonic();
    if (now - this.leadershipCheckedAt < LEADERSHIP_RECHECK_MS) return false;
    this.leadershipCheckedAt = now;
    const row = await this.store.getLeadership(this.namespace);
    if (row) this.observeLeadership(row, { fromTable: true });
    return row?.term === term && row.leaderId === leaderId;
  }

  private term(): number | undefined {
    return this.leadership?.term;
  }

  private async read(workerId: string): Promise<WorkerRecord | undefined> {
    const readAt = this.clock.monotonic();
    const termWhenRead = this.term();
    const record = await this.store.getWorker(this.namespace, workerId);
    this.workers.set(workerId, { record, readAt, termWhenRead });
    this.forgetOld(readAt);
    return record;
  }

  /** Workers come and go over a fleet's life: records read long ago are dropped once there are many. */
  private forgetOld(now: number): void {
    if (this.workers.size <= MAX_REMEMBERED_WORKERS) return;
    for (const [workerId, known] of this.workers) if (now - known.readAt >= WORKER_RECORD_TTL_MS) this.workers.delete(workerId);
  }
}
