import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CommandReply,
  type CoordinationBus,
  type FleetEvent,
  type Lease,
  type LeaseStore,
  type Logger,
  type PlanMessage,
  type Unsubscribe,
  type WorkerCommand,
} from '@shoal/coordinator';
import type { LeaseHost } from '../../leases/lease-host.js';
import type { FleetDirectory } from '../fleet-directory.js';
import type { FleetMove } from '../fleet-plan.js';
import { TokenBucket } from '../token-bucket.js';
import { TakeQueue } from './take-queue.js';

/** Planned takes in flight at once per worker (see TakeQueue), each from its read to its acquire's answer. */
const TAKE_CONCURRENCY = 8;
/** A take's slot is given back after this long even if its acquire has no answer yet (the write has its own timeout). */
const TAKE_SETTLE_TIMEOUT_MS = 5_000;
/** Machine states of a lease this worker lost, on their way out. */
const LOST_STATES: ReadonlySet<string> = new Set(['losing', 'stolen']);
const LOST_MACHINE_POLL_MS = 20;
/**
 * Reads of the table that unsigned prompts may cause: a burst of 20, then 10 a second. A prompt
 * beyond that is dropped; the periodic syncs find what it pointed at anyway.
 */
const PROMPTED_READS_BURST = 20;
const PROMPTED_READS_PER_SECOND = 10;

export interface FleetMemberOptions {
  readonly bus: CoordinationBus;
  readonly store: LeaseStore;
  readonly namespace: string;
  readonly workerId: string;
  readonly host: LeaseHost;
  /** What the table says about the fleet: who is registered, with which key, and who leads. */
  readonly directory: FleetDirectory;
  /** False while the worker drains or is fenced: it takes no leases then. */
  readonly mayTakeLeases: () => boolean;
  /** Fleet changes the leader should plan for. */
  readonly onFleetChange: () => void;
  /** The table confirms the leader revoked this worker: drop every lease and register again. */
  readonly onRevoked: () => Promise<void>;
  /** The leader stepped down naming this worker: check the leadership row and claim it if vacant. */
  readonly onSuccession: () => void;
  /** Another worker finished a shard: its children's leases are due (the leader creates them). */
  readonly onShardEnded: (leaseKey: string, shardId: string) => void;
  /**
   * A lease may be this worker's now without it having started it: an announcement it could
   * not act on, or a planned handoff that never announced itself. The lease sync checks soon.
   */
  readonly onHandoverMissed: (leaseKey?: string) => void;
  /** Another worker is shutting down: it may hand leases here with no plan to say so. */
  readonly onPeerLeaving?: () => void;
  /** Another worker says it asked for a lease this worker holds: the lease sync reads it now. */
  readonly onHandoffAsked: (leaseKey: string) => void;
  /** Someone said this worker is leaving: read its own record to see whether an operator drained it. */
  readonly onToldLeaving: () => void;
  /**
   * Whether this worker consumes the lease's stream now. The leader plans from its own stream
   * list, which may differ for a while (a pattern listed at another moment, a rolling deploy):
   * a free lease of another stream is not taken, one handed over is given up again.
   */
  readonly consumes: (lease: Lease) => boolean;
  /** A plan named a lease of a stream this worker does not know (yet): its list may be behind. */
  readonly onUnknownStream: () => void;
  /** A lease of a stream this worker does not consume was handed here: give it up. */
  readonly releaseUnconsumed: (lease: Lease) => void;
  /** How long a planned handoff to this worker is expected to land (covers the owner's drain). */
  readonly handoffExpectedForMs: number;
  readonly monotonicNow: () => number;
  readonly logger: Logger;
}

/**
 * A worker's side of the coordination bus: it takes the free leases the leader's plan gives it,
 * drains a lease when told to hand it to another worker, and starts a lease the moment its
 * previous owner reports having transferred it here. NATS is shared infrastructure, so nothing
 * is taken on a message's word: a plan or a drain command counts only when signed by the leader
 * the table names for that term, a drain's target must be a registered, active worker, a
 * revocation must show in the table, and every action starts from a consistent read of the
 * lease and a conditional write.
 */
export class FleetMember {
  /**
   * Leases a plan hands to this worker: the epoch the owner holds them at, and until when the
   * transfer (to the next epoch) is expected; it is announced, not polled for.
   */
  private readonly incoming = new Map<string, { readonly leaseCounter: number; readonly until: number }>();
  private readonly subscriptions: Unsubscribe[] = [];
  /** Plans are checked one after another, so they are acted on in the order they came. */
  private planQueue: Promise<void> = Promise.resolve();
  private readonly promptedReads: TokenBucket;
  /** Leases whose handover announcement is being checked: a repeat waits for that read. */
  private readonly adopting = new Set<string>();
  private checkingRevocation = false;
  private readonly takes: TakeQueue;

  constructor(private readonly options: FleetMemberOptions) {
    this.promptedReads = new TokenBucket(PROMPTED_READS_BURST, PROMPTED_READS_PER_SECOND, options.monotonicNow);
    this.takes = new TakeQueue(
      TAKE_CONCURRENCY,
      (move) => this.take(move),
      (error, move) => options.logger.warn({ err: error, leaseKey: move.leaseKey }, 'could not take a planned lease'),
    );
  }

  start(): void {
    const { bus, workerId } = this.options;
    this.subscriptions.push(
      bus.onEvent((event) => this.onEvent(event)),
      bus.onPlans(workerId, (plan) => this.enqueuePlan(plan)),
      bus.serveCommands(workerId, (command) => this.onCommand(command)),
    );
  }

  stop(): void {
    for (const unsubscribe of this.subscriptions.splice(0)) unsubscribe();
    this.takes.clear();
  }

  /**
   * True while a planned handoff of the lease to this worker is on its way and `leaseCounter` is
   * the epoch that transfer makes: the lease sync then leaves a lease it finds already transferred
   * here to the announcement, which adopts it without another write. Any other epoch (a plan
   * replayed from another ownership period) holds nothing back.
   */
  expectsHandoff(leaseKey: string, leaseCounter: number): boolean {
    const expected = this.incoming.get(leaseKey);
    if (expected === undefined) return false;
    if (this.options.monotonicNow() >= expected.until) {
      this.forgetExpiredHandoffs();
      return false;
    }
    return leaseCounter === expected.leaseCounter + 1;
  }

  /**
   * Drops planned handoffs whose time ran out. The owner may have transferred the lease with an
   * announcement that never came: the lease sync is told to check this worker's leases.
   */
  forgetExpiredHandoffs(): void {
    const now = this.options.monotonicNow();
    for (const [leaseKey, expected] of this.incoming) {
      if (expected.until > now) continue;
      this.incoming.delete(leaseKey);
      this.options.onHandoverMissed(leaseKey);
    }
  }

  /** Takes the free leases among `moves` that go to this worker, and notes the handoffs coming. */
  actOnMoves(moves: readonly FleetMove[]): void {
    this.forgetExpiredHandoffs();
    const until = this.options.monotonicNow() + this.options.handoffExpectedForMs;
    for (const move of moves) {
      if (move.to !== this.options.workerId) {
        // A newer plan sends the lease elsewhere: a take still waiting here would race for it.
        this.takes.drop(move.leaseKey);
        continue;
      }
      if (move.kind === 'handoff') {
        this.incoming.set(move.leaseKey, { leaseCounter: move.leaseCounter, until });
        continue;
      }
      this.takes.add(move);
    }
  }

  private onEvent(event: FleetEvent): void {
    const { workerId } = this.options;
    switch (event.type) {
      case 'plan':
        // A leader of an earlier release publishes its whole plan as an event.
        this.enqueuePlan(event);
        return;
      case 'lease-released':
        if (event.to === workerId) {
          if (this.adopting.has(event.leaseKey)) return;
          if (!this.promptedReads.tryTake()) {
            // Not read now (anyone can send these): the lease sync checks the owner index soon,
            // which finds it if it is real, without waiting for this announcement any more.
            this.incoming.delete(event.leaseKey);
            this.options.onHandoverMissed();
            return;
          }
          this.adopting.add(event.leaseKey);
          void this.adopt(event.leaseKey)
            .catch((error: unknown) => this.warn(error, 'could not start a lease handed over', event.leaseKey))
            .finally(() => this.adopting.delete(event.leaseKey));
        } else if (event.to === undefined) {
          this.options.onFleetChange();
        }
        return;
      case 'worker-revoked':
        if (event.workerId !== workerId) this.options.onFleetChange();
        else if (!this.checkingRevocation && this.promptedReads.tryTake()) {
          this.checkingRevocation = true;
          void this.onRevocation()
            .catch((error: unknown) => this.warn(error, 'could not check a revocation'))
            .finally(() => (this.checkingRevocation = false));
        }
        return;
      case 'leader-resigned':
        if (event.successor === workerId && this.promptedReads.tryTake()) this.options.onSuccession();
        return;
      case 'worker-joined':
        if (event.workerId !== workerId) this.options.onFleetChange();
        return;
      case 'worker-leaving':
        if (event.workerId === workerId) {
          // An operator drained this worker (`shoal drain`); unsigned, so only a prompt to read
          // its record, and, should this worker lead, to plan its leases elsewhere.
          this.options.onFleetChange();
          if (this.promptedReads.tryTake()) this.options.onToldLeaving();
          return;
        }
        this.options.onFleetChange();
        // Unsigned: the checks it schedules share the budget of prompted reads.
        if (this.promptedReads.tryTake()) this.options.onPeerLeaving?.();
        return;
      case 'handoff-requested':
        // Unsigned: only a prompt to read the lease, whose row alone decides.
        if (event.from === workerId && this.options.host.hostedLease(event.leaseKey)?.state === 'owned' && this.promptedReads.tryTake()) {
          this.options.onHandoffAsked(event.leaseKey);
        }
        return;
      case 'checkpoint-reset':
        this.options.onFleetChange();
        // Unsigned, like a handoff request: only a prompt to read the lease.
        if (event.owner === workerId && this.options.host.hostedLease(event.leaseKey) !== undefined && this.promptedReads.tryTake()) {
          this.options.onHandoffAsked(event.leaseKey);
        }
        return;
      case 'shard-ended':
        // Only the leader acts on it (within a budget of its own): members spend nothing on it.
        if (event.from !== workerId) this.options.onShardEnded(event.leaseKey, event.shardId);
        return;
      case 'leader-changed':
        return;
    }
  }

  private enqueuePlan(plan: PlanMessage): void {
    if (plan.leaderId === this.options.workerId) return;
    this.planQueue = this.planQueue.then(() => this.onPlan(plan)).catch((error: unknown) => this.warn(error, 'could not check a plan'));
  }

  private async onPlan(plan: PlanMessage): Promise<void> {
    if (!(await this.fromCurrentLeader(plan.leaderId, plan.term, plan))) {
      this.options.bus.reject('plan', 'plan not signed by the leader the table names for its term', {
        leaderId: plan.leaderId,
        term: plan.term,
      });
      return;
    }
    this.actOnMoves(plan.moves.map((move) => ({ ...move, from: move.from })));
  }

  private async onCommand(command: WorkerCommand): Promise<CommandReply> {
    const { host, bus, directory } = this.options;
    const refuse = (reason: string, details: Record<string, unknown> = {}): CommandReply => {
      bus.reject('drain-lease', `drain command refused: ${reason}`, {
        leaseKey: command.leaseKey,
        requestedBy: command.requestedBy,
        ...details,
      });
      return { accepted: false, reason };
    };
    const machine = host.hostedLease(command.leaseKey);
    if (!machine || machine.state !== 'owned') return { accepted: false, reason: `lease is ${machine?.state ?? 'not held'} here` };
    // Bound to one ownership period: a replay after the lease moved on, or came back, is refused.
    if (machine.ownership?.leaseCounter !== command.leaseCounter) return refuse('for another ownership period of the lease');
    if (!(await this.fromCurrentLeader(command.requestedBy, command.term, command))) {
      return refuse('not signed by the leader the table names for its term');
    }
    const target = await directory.worker(command.to);
    if (!target || target.status !== 'active') return refuse('its target is not a registered, active worker', { to: command.to });
    host.sendToLease(command.leaseKey, { type: 'DRAIN', reason: 'handoff', handoffTo: command.to });
    return { accepted: true };
  }

  /** Whether the table names `leaderId` as the leader of `term`, and `message` carries its signature. */
  private async fromCurrentLeader(leaderId: string, term: number, message: { readonly mac?: string }): Promise<boolean> {
    const { directory } = this.options;
    if (!(await directory.confirmsLeader(leaderId, term))) return false;
    return directory.signedBy(message, leaderId, term);
  }

  /** `worker-revoked` names this worker: believed only if the table no longer has its record. */
  private async onRevocation(): Promise<void> {
    const { store, namespace, workerId, bus } = this.options;
    if (await store.getWorker(namespace, workerId)) {
      bus.reject('worker-revoked', 'revocation of this worker not confirmed by the table (its record is still there)');
      return;
    }
    await this.options.onRevoked();
  }

  private async take(move: FleetMove): Promise<void> {
    const { host, store, namespace } = this.options;
    await this.untilLostMachineGone(move.leaseKey);
    if (!this.options.mayTakeLeases() || this.hostsPastPending(move.leaseKey)) return;
    const lease = await store.getLease(namespace, move.leaseKey);
    // Only what the leader saw, in the very ownership period it saw: unowned, or still held by
    // the worker it judged gone. A plan handled late, or replayed after the lease moved on (even
    // back to the same worker, at a later epoch), takes nothing.
    if (!lease || lease.checkpoint.type === 'SHARD_END') return;
    if (lease.leaseOwner !== move.from || lease.leaseCounter !== move.leaseCounter) return;
    if (!this.options.consumes(lease)) {
      this.options.onUnknownStream();
      return;
    }
    if (!this.options.mayTakeLeases() || this.hostsPastPending(move.leaseKey)) return;
    // A machine waiting for this lease to be handed over waits on an owner that is gone: it takes it instead.
    if (host.hostedLease(move.leaseKey)?.state === 'pending') host.sendToLease(move.leaseKey, { type: 'LEASE.TAKE', lease });
    else host.startLease(lease, 'acquire');
    // The acquire is the lease machine's own write: the take's slot is held until it is done.
    await host.untilSettled?.(move.leaseKey, TAKE_SETTLE_TIMEOUT_MS);
  }

  /**
   * Waits (bounded) for a machine of the lease that is stopping here because the table took the
   * lease from it (an operator moved its checkpoint, say): the leader may plan the lease back to
   * this worker before that machine is gone, and the plan would otherwise find it still hosted.
   */
  private async untilLostMachineGone(leaseKey: string): Promise<void> {
    const deadline = this.options.monotonicNow() + TAKE_SETTLE_TIMEOUT_MS;
    while (LOST_STATES.has(this.options.host.hostedLease(leaseKey)?.state ?? '') && this.options.monotonicNow() < deadline) {
      await sleep(LOST_MACHINE_POLL_MS);
    }
  }

  /** This worker hosts the lease in a state beyond waiting for it (owned, draining, ...). */
  private hostsPastPending(leaseKey: string): boolean {
    const state = this.options.host.hostedLease(leaseKey)?.state;
    return state !== undefined && state !== 'pending';
  }

  private async adopt(leaseKey: string): Promise<void> {
    const { host, store, namespace, workerId } = this.options;
    this.incoming.delete(leaseKey);
    const lease: Lease | undefined = await store.getLease(namespace, leaseKey);
    if (!lease || lease.leaseOwner !== workerId) return;
    // A fenced, draining or recovering worker starts nothing, not even a lease handed to it; once
    // it may again, the lease sync finds the lease.
    if (!this.options.mayTakeLeases()) {
      this.options.onHandoverMissed(leaseKey);
      return;
    }
    const machine = host.hostedLease(leaseKey);
    if (machine?.state === 'pending') {
      host.sendToLease(leaseKey, { type: 'LEASE.ACQUIRED', lease });
      return;
    }
    if (machine || lease.checkpoint.type === 'SHARD_END') return;
    if (!this.options.consumes(lease)) {
      this.options.releaseUnconsumed(lease);
      return;
    }
    const relinquished = host.relinquishedEpoch(leaseKey);
    if (relinquished !== undefined && lease.leaseCounter <= relinquished) return;
    host.startLease(lease, 'adopt');
  }

  private warn(error: unknown, what: string, leaseKey?: string): void {
    this.options.logger.warn({ err: error, ...(leaseKey ? { leaseKey } : {}) }, what);
  }
}
