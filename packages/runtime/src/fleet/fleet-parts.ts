import { LeaderElection, type CoordinationBus, type Lease, type LeaseStore, type Logger, type OwnershipTracker } from '@shoal/coordinator';
import type { Clock } from '../clock.js';
import type { LeaseHost } from '../leases/lease-host.js';
import type { FleetOptions } from './fleet-options.js';
import { FleetDirectory } from './fleet-directory.js';
import { FleetLeader } from './leader/fleet-leader.js';
import { NatsLivenessKeeper } from './liveness/nats-liveness-keeper.js';
import type { WorkerLiveness } from './liveness/worker-liveness.js';
import { FleetMember } from './member/fleet-member.js';
import type { PlannerStreams } from './stream-eligibility.js';

/** Parts of the worker that exist only with a coordination bus. */
export interface FleetParts {
  readonly bus: CoordinationBus;
  readonly election: LeaderElection;
  readonly leader: FleetLeader;
  readonly member: FleetMember;
  readonly keeper: NatsLivenessKeeper;
  readonly directory: FleetDirectory;
}

export interface FleetPartsDependencies {
  readonly bus: CoordinationBus;
  readonly store: LeaseStore;
  readonly namespace: string;
  readonly workerId: string;
  /** This worker's signing key, as its record holds it. */
  readonly fleetKey: string;
  readonly host: LeaseHost;
  readonly liveness: WorkerLiveness;
  readonly options: FleetOptions;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** What the fleet parts need from the lease coordinator that hosts them. */
export interface FleetHooks {
  readonly ownerships: OwnershipTracker;
  readonly mayTakeLeases: () => boolean;
  /** This worker's streams (which it consumes now, which its choice names). */
  readonly streams: PlannerStreams;
  /** A plan named a lease of a stream this worker does not know (yet). */
  readonly onUnknownStream: () => void;
  /** Gives up a lease of a stream not consumed that was handed to this worker. */
  readonly releaseUnconsumed: (lease: Lease) => void;
  /** Reads the namespace afresh (a lease sync). */
  readonly refresh: () => Promise<void>;
  /** This worker's record is gone: drop every lease and register again. */
  readonly onRevoked: () => Promise<void>;
  /** This worker became leader: it creates the leases of new shards from now on. */
  readonly onElected: () => void;
  /** A worker reported a lease's shard finished: as leader, create its children's leases. */
  readonly onShardEnded: (leaseKey: string, shardId: string) => void;
  /** A lease (this one, if named) may have been handed to this worker without it starting it: check soon. */
  readonly onHandoverMissed: (leaseKey?: string) => void;
  /** Another worker is shutting down: check this worker's leases once its drains should be done. */
  readonly onPeerLeaving: () => void;
  /** Another worker says it asked for this worker's lease: read the lease and act on it. */
  readonly onHandoffAsked: (leaseKey: string) => void;
  /** Someone said this worker is leaving (an operator drained it): read its own record. */
  readonly onToldLeaving: () => void;
  /** The leader's signed grant says this worker's record is marked leaving. */
  readonly onMarkedLeaving: () => void;
}

/** Wires the leader, member and liveness keeper of a worker that has a coordination bus. */
export function createFleetParts(deps: FleetPartsDependencies, hooks: FleetHooks): FleetParts {
  const { bus, store, namespace, workerId, fleetKey, host, liveness, clock, logger, options } = deps;
  const { coordination } = options;
  const directory = new FleetDirectory(store, namespace, clock);
  const member = new FleetMember({
    bus,
    store,
    namespace,
    workerId,
    host,
    directory,
    mayTakeLeases: hooks.mayTakeLeases,
    onFleetChange: () => leader.replanSoon(),
    onRevoked: hooks.onRevoked,
    onSuccession: () => void election.recheck(),
    onShardEnded: hooks.onShardEnded,
    onHandoverMissed: hooks.onHandoverMissed,
    onPeerLeaving: hooks.onPeerLeaving,
    onHandoffAsked: hooks.onHandoffAsked,
    onToldLeaving: hooks.onToldLeaving,
    consumes: (lease) => hooks.streams.consumes(lease),
    onUnknownStream: hooks.onUnknownStream,
    releaseUnconsumed: hooks.releaseUnconsumed,
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
    onElected: (term, replaced) => {
      leader.elected(term, replaced?.leaderId);
      hooks.onElected();
    },
    onDeposed: () => leader.deposed(),
  });
  const leader: FleetLeader = new FleetLeader({
    bus,
    store,
    namespace,
    workerId,
    fleetKey,
    ownerships: hooks.ownerships,
    maxLeasesPerWorker: options.maxLeasesPerWorker,
    streams: hooks.streams,
    loadStore: options.workerLoadStore,
    application: options.applicationName,
    loadRefreshMs: options.loadReportIntervalMs,
    grantValidForMs: coordination.livenessSelfFenceMs,
    revokeAfterMs: coordination.livenessFailoverMs,
    remainingTermMs: () => election.remainingMs(),
    heldTerm: () => election.term(),
    refresh: hooks.refresh,
    lookUpWorker: (workerId) => directory.worker(workerId),
    actOnOwnMoves: (moves) => member.actOnMoves(moves),
    clock,
    logger,
  });
  const keeper = new NatsLivenessKeeper({
    bus,
    store,
    namespace,
    workerId,
    fleetKey,
    liveness,
    intervalMs: coordination.livenessIntervalMs,
    grantValidForMs: coordination.livenessSelfFenceMs,
    clock,
    logger,
    onRevoked: hooks.onRevoked,
    onMarkedLeaving: hooks.onMarkedLeaving,
    // The grants carry the leadership row as the leader last renewed it: a worker that hears
    // the leader follows the election without reading the row.
    onLeaderSeen: (row) => {
      directory.observeLeadership(row);
      election.observeLeader(row, clock.monotonic());
    },
  });
  return { bus, election, leader, member, keeper, directory };
}
