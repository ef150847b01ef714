import { signed, verifyMessage, type CoordinationBus, type LeadershipRecord, type LeaseStore, type Logger } from '@shoal/coordinator';
import { instantOf, type Clock } from '../../clock.js';
import type { WorkerLiveness } from './worker-liveness.js';

export interface NatsLivenessKeeperOptions {
  readonly bus: CoordinationBus;
  readonly store: LeaseStore;
  readonly namespace: string;
  readonly workerId: string;
  /** This worker's signing key (its record holds it): requests are signed with it, and so are real grants. */
  readonly fleetKey: string;
  readonly liveness: WorkerLiveness;
  /** How often to ask the leader for a grant. */
  readonly intervalMs: number;
  /** How long a grant runs from its request: a reply later than that is of no use. */
  readonly grantValidForMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The worker's record is gone: the leader revoked it (or judged it dead by the table). */
  readonly onRevoked: () => Promise<void>;
  /** A grant showed the leadership row as its leader last renewed it. */
  readonly onLeaderSeen?: (row: LeadershipRecord) => void;
  /** A grant says this worker's record is marked leaving (an operator drained it). */
  readonly onMarkedLeaving?: () => void;
}

/**
 * Keeps this worker alive through leader grants over NATS, and moves it between liveness modes:
 * to `nats` once it holds a fresh grant (no more DynamoDB heartbeats), back to `table` as soon
 * as its chain of grants breaks (NATS down, no leader, leader changed). While the chain is
 * broken the worker processes nothing; the switch back is conditional and fails only if the
 * leader revoked it, in which case every lease is dropped.
 *
 * Grant requests go out on their own schedule, one every interval whatever else is in flight
 * (a slow switch of modes, a slow reply), and a reply counts as long as the chain it extends is
 * unbroken, so a busy event loop that handles a reply late costs nothing.
 */
export class NatsLivenessKeeper {
  private switching = false;
  private seq = 0;

  constructor(private readonly options: NatsLivenessKeeperOptions) {}

  /** Loops until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.requestGrants(signal), this.settleModes(signal)]);
  }

  private async requestGrants(signal: AbortSignal): Promise<void> {
    const { clock, intervalMs } = this.options;
    const inFlight = new Set<Promise<void>>();
    let nextAt = clock.monotonic();
    while (!signal.aborted) {
      const request = this.askForGrant().finally(() => inFlight.delete(request));
      inFlight.add(request);
      // On a fixed schedule from each start, so one slow answer never delays the next request.
      nextAt = Math.max(nextAt + intervalMs, clock.monotonic());
      await clock.sleep(nextAt - clock.monotonic(), signal).catch(() => undefined);
    }
    await Promise.allSettled(inFlight);
  }

  private async askForGrant(): Promise<void> {
    const { bus, workerId, fleetKey, liveness, clock, grantValidForMs } = this.options;
    const seq = (this.seq += 1);
    const requestedAt = instantOf(clock);
    // Only a grant for this very request, signed with this worker's own key, counts: the leader
    // alone can sign so, since only the table and this worker hold the key.
    const reply = await bus.requestLiveness(signed({ workerId, seq }, fleetKey), grantValidForMs, (answer) =>
      answer.granted ? answer.seq === seq && verifyMessage(answer, fleetKey) : false,
    );
    if (!reply?.granted) return;
    liveness.grant(requestedAt, reply.validForMs, reply.term);
    if (reply.leaving) this.options.onMarkedLeaving?.();
    if (reply.leaderHeartbeat !== undefined) {
      this.options.onLeaderSeen?.({
        namespace: this.options.namespace,
        leaderId: reply.leaderId,
        term: reply.term,
        heartbeat: reply.leaderHeartbeat,
      });
    }
  }

  private async settleModes(signal: AbortSignal): Promise<void> {
    const { clock, intervalMs } = this.options;
    while (!signal.aborted) {
      await this.settleMode();
      await clock.sleep(intervalMs, signal).catch(() => undefined);
    }
  }

  private async settleMode(): Promise<void> {
    const { liveness, intervalMs } = this.options;
    if (this.switching) return;
    if (liveness.mode === 'uncertain') await this.settleUncertain();
    else if (liveness.mode === 'nats' && liveness.grantsLapsed()) await this.switchTo('table');
    else if (liveness.pendingTerm !== undefined) await this.followNewLeader(liveness.pendingTerm);
    else if (liveness.mode === 'table' && liveness.hasGrant(intervalMs * 2)) await this.switchTo('nats');
  }

  private async switchTo(mode: 'nats' | 'table'): Promise<void> {
    const { store, namespace, workerId, liveness, clock, logger } = this.options;
    this.switching = true;
    // From before the write goes out, the record may say `nats`: hold to the grants as well as
    // to the table until the answer (or a read-back) says which.
    if (mode === 'nats') liveness.enterUncertain();
    const startedAt = instantOf(clock);
    try {
      const result = await store.switchWorkerLiveness(namespace, workerId, mode, liveness.grantTerm);
      if (result.status === 'applied') {
        if (mode === 'nats') liveness.enterNats();
        else liveness.enterTable(startedAt);
        logger.info({ liveness: mode }, mode === 'nats' ? 'liveness now confirmed by leader grants' : 'liveness back on table heartbeats');
        return;
      }
      await this.resolveConflict(mode);
    } catch (error) {
      // The write may have landed: an unanswered switch to `nats` stays uncertain until read back.
      logger.warn({ err: error, liveness: mode }, 'could not switch liveness mode');
    } finally {
      this.switching = false;
    }
  }

  /**
   * A new leader grants this worker while the previous term's grants still run: point the record
   * at the new term (conditional on it still naming the old one, so it races exactly with a
   * revocation under the old term) and go on without a pause. If the write fails or gets no
   * answer, the old chain simply runs out and the worker falls back to table heartbeats.
   */
  private async followNewLeader(term: number): Promise<void> {
    const { store, namespace, workerId, liveness, logger } = this.options;
    const from = liveness.grantTerm;
    if (from === undefined) return;
    this.switching = true;
    try {
      const result = await store.repointWorkerGrants(namespace, workerId, from, term);
      if (result.status === 'applied') {
        liveness.adoptTerm(term);
        logger.info({ grantTerm: term }, 'liveness now confirmed by the new leader’s grants');
        return;
      }
      await this.adoptRecordedMode(() => undefined);
    } catch (error) {
      logger.warn(
        { err: error, grantTerm: term },
        'could not follow the new leader; liveness falls back to table heartbeats if grants lapse',
      );
    } finally {
      this.switching = false;
    }
  }

  /** After a switch to `nats` that got no answer: read the record back and take its mode. */
  private async settleUncertain(): Promise<void> {
    this.switching = true;
    try {
      await this.adoptRecordedMode(() => this.options.liveness.stayTable());
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not read back this worker’s liveness mode');
    } finally {
      this.switching = false;
    }
  }

  /** The switch found the record gone or already in `mode` (an earlier write landed unseen). */
  private async resolveConflict(mode: 'nats' | 'table'): Promise<void> {
    const { store, namespace, workerId, liveness, clock } = this.options;
    await this.adoptRecordedMode(async () => {
      if (mode !== 'table') {
        liveness.stayTable();
        return;
      }
      const startedAt = instantOf(clock);
      const heartbeat = await store.heartbeatWorker(namespace, workerId);
      if (heartbeat.status === 'applied') liveness.enterTable(startedAt);
    });
  }

  /**
   * Reads this worker's record: gone means the leader revoked it; `nats` is taken as is;
   * `table` is left to `onTable`.
   */
  private async adoptRecordedMode(onTable: () => Promise<void> | void): Promise<void> {
    const { store, namespace, workerId, liveness, logger } = this.options;
    const record = await store.getWorker(namespace, workerId);
    if (!record) {
      logger.warn('worker record is gone: the leader revoked this worker; dropping every lease');
      await this.options.onRevoked();
    } else if (record.liveness === 'nats') {
      if (record.grantTerm !== undefined && record.grantTerm === liveness.pendingTerm) liveness.adoptTerm(record.grantTerm);
      else liveness.enterNats();
    } else {
      await onTable();
    }
  }
}
