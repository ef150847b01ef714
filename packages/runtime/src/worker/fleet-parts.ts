import { LeaderElection, type CoordinationBus, type OwnershipTracker } from '@shoal/coordinator';
import { FleetLeader } from './fleet-leader.js';
import { FleetMember } from './fleet-member.js';
import type { LeaseCoordinatorOptions } from './lease-coordinator.js';
import { NatsLivenessKeeper } from './nats-liveness-keeper.js';

/** Parts of the worker that exist only with a coordination bus. */
export interface FleetParts {
  readonly bus: CoordinationBus;
  readonly election: LeaderElection;
  readonly leader: FleetLeader;
  readonly member: FleetMember;
  readonly keeper: NatsLivenessKeeper;
}

/** What the fleet parts need from the lease coordinator that hosts them. */
export interface FleetHooks {
  /** Whether a `table`-mode worker is alive by its heartbeats. */
  readonly tableAlive: (workerId: string) => boolean;
  readonly ownerships: OwnershipTracker;
  readonly mayTakeLeases: () => boolean;
  /** Reads the namespace afresh (a lease sync). */
  readonly refresh: () => Promise<void>;
  /** This worker's record is gone: drop every lease and register again. */
  readonly onRevoked: () => Promise<void>;
}

/** Wires the leader, member and liveness keeper of a worker that has a coordination bus. */
export function createFleetParts(deps: LeaseCoordinatorOptions, bus: CoordinationBus, hooks: FleetHooks): FleetParts {
  const { store, namespace, workerId, host, liveness, clock, logger, options } = deps;
  const { coordination } = options;
  const member = new FleetMember({
    bus,
    store,
    namespace,
    workerId,
    host,
    mayTakeLeases: hooks.mayTakeLeases,
    onFleetChange: () => leader.replanSoon(),
    onRevoked: hooks.onRevoked,
    handoffExpectedForMs: options.drainTimeoutMs + 2_000,
    monotonicNow: clock.monotonic,
    logger,
  });
  const election = new LeaderElection({
    store,
    namespace,
    workerId,
    leadershipDurationMs: coordination.leadershipDurationMs,
    renewIntervalMs: coordination.leadershipRenewIntervalMs,
    clock,
    logger,
    onElected: (term, replaced) => leader.elected(term, replaced?.leaderId),
    onDeposed: () => leader.deposed(),
  });
  const leader: FleetLeader = new FleetLeader({
    bus,
    store,
    namespace,
    workerId,
    tableAlive: hooks.tableAlive,
    ownerships: hooks.ownerships,
    maxLeasesPerWorker: options.maxLeasesPerWorker,
    loadStore: options.workerLoadStore,
    application: options.applicationName,
    loadRefreshMs: options.loadReportIntervalMs,
    grantValidForMs: coordination.livenessSelfFenceMs,
    revokeAfterMs: coordination.livenessFailoverMs,
    remainingTermMs: () => election.remainingMs(),
    refresh: hooks.refresh,
    actOnOwnMoves: (moves) => member.actOnMoves(moves),
    clock,
    logger,
  });
  const keeper = new NatsLivenessKeeper({
    bus,
    store,
    namespace,
    workerId,
    liveness,
    intervalMs: coordination.livenessIntervalMs,
    clock,
    logger,
    onRevoked: hooks.onRevoked,
  });
  return { bus, election, leader, member, keeper };
}
