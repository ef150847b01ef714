import type {
  CommandReply,
  CoordinationBus,
  FleetEvent,
  Lease,
  LeaseMove,
  LeaseStore,
  Logger,
  Unsubscribe,
  WorkerCommand,
} from '@shoal/coordinator';
import type { LeaseHost } from '../../leases/lease-host.js';

export interface FleetMemberOptions {
  readonly bus: CoordinationBus;
  readonly store: LeaseStore;
  readonly namespace: string;
  readonly workerId: string;
  readonly host: LeaseHost;
  /** False while the worker drains or is fenced: it takes no leases then. */
  readonly mayTakeLeases: () => boolean;
  /** Fleet changes the leader should plan for. */
  readonly onFleetChange: () => void;
  /** The leader says it revoked this worker: drop every lease and register again. */
  readonly onRevoked: () => Promise<void>;
  /** How long a planned handoff to this worker is expected to land (covers the owner's drain). */
  readonly handoffExpectedForMs: number;
  readonly monotonicNow: () => number;
  readonly logger: Logger;
}

/**
 * A worker's side of the coordination bus: it takes the free leases the leader's plan gives it,
 * drains a lease when told to hand it to another worker, and starts a lease the moment its
 * previous owner reports having transferred it here. Every action starts from a consistent read
 * of the lease and a conditional write, so a stale or repeated message cannot do harm.
 */
export class FleetMember {
  private highestTerm = 0;
  /** Leases a plan hands to this worker, until when; their transfer is announced, not polled for. */
  private readonly incoming = new Map<string, number>();
  private readonly subscriptions: Unsubscribe[] = [];

  constructor(private readonly options: FleetMemberOptions) {}

  start(): void {
    const { bus, workerId } = this.options;
    this.subscriptions.push(
      bus.onEvent((event) => this.onEvent(event)),
      bus.serveCommands(workerId, (command) => this.onCommand(command)),
    );
  }

  stop(): void {
    for (const unsubscribe of this.subscriptions.splice(0)) unsubscribe();
  }

  /**
   * True while a planned handoff of the lease to this worker is on its way: the lease sync then
   * leaves a lease it finds already transferred here to the announcement, which adopts it
   * without another write.
   */
  expectsHandoff(leaseKey: string): boolean {
    const until = this.incoming.get(leaseKey);
    if (until === undefined) return false;
    if (this.options.monotonicNow() < until) return true;
    this.incoming.delete(leaseKey);
    return false;
  }

  /** Takes the free leases among `moves` that go to this worker, and notes the handoffs coming. */
  actOnMoves(moves: readonly LeaseMove[]): void {
    const now = this.options.monotonicNow();
    for (const [leaseKey, until] of this.incoming) if (until <= now) this.incoming.delete(leaseKey);
    const until = now + this.options.handoffExpectedForMs;
    for (const move of moves) {
      if (move.to !== this.options.workerId) continue;
      if (move.kind === 'handoff') {
        this.incoming.set(move.leaseKey, until);
        continue;
      }
      void this.take(move).catch((error: unknown) =>
        this.options.logger.warn({ err: error, leaseKey: move.leaseKey }, 'could not take a planned lease'),
      );
    }
  }

  private onEvent(event: FleetEvent): void {
    const { workerId } = this.options;
    switch (event.type) {
      case 'plan':
        if (event.term < this.highestTerm || event.leaderId === workerId) return;
        this.highestTerm = event.term;
        this.actOnMoves(event.moves.map((move) => ({ ...move, from: move.from })));
        return;
      case 'leader-changed':
        this.highestTerm = Math.max(this.highestTerm, event.term);
        return;
      case 'lease-released':
        if (event.to === workerId) {
          void this.adopt(event.leaseKey).catch((error: unknown) =>
            this.options.logger.warn({ err: error, leaseKey: event.leaseKey }, 'could not start a lease handed over'),
          );
        } else if (event.to === undefined) {
          this.options.onFleetChange();
        }
        return;
      case 'worker-revoked':
        if (event.workerId === workerId) void this.options.onRevoked().catch(() => undefined);
        else this.options.onFleetChange();
        return;
      case 'worker-joined':
      case 'worker-leaving':
        if (event.workerId !== workerId) this.options.onFleetChange();
        return;
      case 'shard-ended':
        this.options.onFleetChange();
        return;
    }
  }

  private onCommand(command: WorkerCommand): CommandReply {
    const { host } = this.options;
    const machine = host.hostedLeases().get(command.leaseKey);
    if (!machine || machine.state !== 'owned') return { accepted: false, reason: `lease is ${machine?.state ?? 'not held'} here` };
    host.sendToLease(command.leaseKey, { type: 'DRAIN', reason: 'handoff', handoffTo: command.to });
    return { accepted: true };
  }

  private async take(move: LeaseMove): Promise<void> {
    const { host, store, namespace } = this.options;
    if (!this.options.mayTakeLeases() || host.hostedLeases().has(move.leaseKey)) return;
    const lease = await store.getLease(namespace, move.leaseKey);
    // Only what the leader saw: unowned, or still held by the worker it revoked.
    if (!lease || lease.checkpoint.type === 'SHARD_END' || lease.leaseOwner !== move.from) return;
    if (!this.options.mayTakeLeases() || host.hostedLeases().has(move.leaseKey)) return;
    host.startLease(lease, 'acquire');
  }

  private async adopt(leaseKey: string): Promise<void> {
    const { host, store, namespace, workerId } = this.options;
    this.incoming.delete(leaseKey);
    const lease: Lease | undefined = await store.getLease(namespace, leaseKey);
    if (!lease || lease.leaseOwner !== workerId) return;
    const machine = host.hostedLeases().get(leaseKey);
    if (machine?.state === 'pending') {
      host.sendToLease(leaseKey, { type: 'LEASE.ACQUIRED', lease });
      return;
    }
    if (machine || lease.checkpoint.type === 'SHARD_END') return;
    const relinquished = host.relinquishedEpoch(leaseKey);
    if (relinquished !== undefined && lease.leaseCounter <= relinquished) return;
    if (!this.options.mayTakeLeases()) return;
    host.startLease(lease, 'adopt');
  }
}
