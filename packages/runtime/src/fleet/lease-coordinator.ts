import { setMaxListeners } from 'node:events';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  newFleetKey,
  type CoordinationBus,
  type Lease,
  type LeaseOwnership,
  type LeaseStore,
  type Logger,
  type WorkerRecord,
  type WorkerRegistration,
} from '@shoal/coordinator';
import { instantOf, type Clock } from '../clock.js';
import type { ConsumedStreams } from '../streams/consumed-streams.js';
import type { LeaseHost } from '../leases/lease-host.js';
import { releaseLease } from '../leases/release-lease.js';
import type { FleetOptions } from './fleet-options.js';
import { createFleetParts, type FleetParts } from './fleet-parts.js';
import { LeaseSync } from './lease-sync/lease-sync.js';
import { ShardSync } from './lease-sync/shard-sync.js';
import { EventLoopWatch } from './liveness/event-loop-watch.js';
import { SelfFence } from './liveness/self-fence.js';
import { TableHeartbeat } from './liveness/table-heartbeat.js';
import { LeaderShardSyncs } from './leader/leader-shard-syncs.js';
import type { WorkerLiveness } from './liveness/worker-liveness.js';

/** A plan naming a stream this worker does not know lists the streams again, at most this often. */
const PROMPTED_STREAM_REFRESH_SPACING_MS = 5_000;
/** Stream listings are spread by up to this share of the interval, so a fleet started together does not list in step. */
const STREAM_REFRESH_JITTER = 0.2;

export interface LeaseCoordinatorOptions {
  readonly store: LeaseStore;
  readonly kinesis: KinesisClient;
  readonly namespace: string;
  /** The streams the application consumes, and which stream each lease belongs to. */
  readonly streams: ConsumedStreams;
  readonly workerId: string;
  readonly host: LeaseHost;
  readonly liveness: WorkerLiveness;
  /** The fleet's coordination bus; without it the worker coordinates through the table alone. */
  readonly bus: CoordinationBus | undefined;
  readonly options: FleetOptions;
  /** A finished lease was deleted from the table (its shard's lineage is done). */
  readonly onLeaseDeleted?: (lease: Lease) => void;
  /**
   * Runs once the streams are known and before the worker registers: what must hold before it
   * may take a lease (enhanced fan-out's consumers registered). A failure fails the start.
   */
  readonly beforeRegistering?: (streamNames: readonly string[]) => Promise<void>;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The worker's part in the fleet, and its periodic duties against the lease table:
 * - liveness: table heartbeats ({@link TableHeartbeat}) or, with a bus, leader grants;
 * - lease sync ({@link LeaseSync}): notice leases lost or asked for, and take this worker's share;
 * - shard sync ({@link ShardSync}): create leases for new shards, clean up finished parents.
 * With a coordination bus it also stands for leader, and acts on the leader's plans and commands
 * (see {@link FleetParts}).
 */
export class LeaseCoordinator {
  private readonly controller = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly fence: SelfFence;
  private readonly heartbeat: TableHeartbeat;
  private readonly leaseSync: LeaseSync;
  private readonly shardSync: ShardSync;
  private readonly fleet: FleetParts | undefined;
  private readonly eventLoop: EventLoopWatch | undefined;
  private draining = false;
  /** An operator drained this worker (its record said `leaving`): it stays drained through a new registration. */
  private markedLeaving = false;
  private recovering: Promise<void> | undefined;
  private readonly logger: Logger;
  /** Signs what this worker says on the bus; its record holds it, so receivers can check. */
  private readonly fleetKey = newFleetKey();
  private readonly leaderShardSyncs: LeaderShardSyncs;
  private lastStreamRefreshAt = Number.NEGATIVE_INFINITY;
  /** The streams this worker's record lists (sorted, joined); undefined in a single-stream namespace. */
  private recordedStreams: string | undefined;
  /** Leases of streams not consumed whose release is under way, so a repeat does not write twice. */
  private readonly releasing = new Set<string>();

  constructor(private readonly deps: LeaseCoordinatorOptions) {
    // Every loop and every call in flight (listings of several streams at once, say) listens for
    // the stop; they remove themselves, so more than Node's default of 10 is no leak.
    setMaxListeners(0, this.controller.signal);
    const { store, kinesis, namespace, streams, workerId, host, liveness, options, clock, logger } = deps;
    this.logger = logger;
    this.fence = new SelfFence(() => host.fenced(), logger);
    this.heartbeat = new TableHeartbeat({
      store,
      namespace,
      workerId,
      liveness,
      intervalMs: options.heartbeatIntervalMs,
      fence: this.fence,
      clock,
      logger,
      onRecordRemoved: () => this.recoverFromRevocation(),
      onRecord: (record) => this.noteOwnRecord(record),
    });
    this.leaseSync = new LeaseSync({
      store,
      namespace,
      workerId,
      host,
      leaseDurationMs: options.leaseDurationMs,
      leaseSyncIntervalMs: options.leaseSyncIntervalMs,
      maxLeasesPerWorker: options.maxLeasesPerWorker,
      mayTakeLeases: () => this.mayTakeLeases(),
      streams,
      releaseUnconsumed: (lease) => this.releaseUnconsumed(lease),
      hearsLeader: () => {
        const term = this.fleet?.election.liveTerm();
        return term !== undefined && liveness.grantTerm === term && liveness.hasGrant();
      },
      joinGraceMs: options.coordination.livenessSelfFenceMs,
      leaderFullSyncIntervalMs: options.coordination.leaderFullSyncIntervalMs,
      ownLeaseCheckIntervalMs: options.coordination.ownLeaseCheckIntervalMs,
      clock,
      logger,
    });
    this.fleet = deps.bus
      ? createFleetParts(
          { bus: deps.bus, store, namespace, workerId, fleetKey: this.fleetKey, host, liveness, options, clock, logger },
          {
            ownerships: this.leaseSync.ownerships,
            mayTakeLeases: () => this.mayTakeLeases(),
            streams,
            onUnknownStream: () => this.refreshStreamsSoon(),
            releaseUnconsumed: (lease) => this.releaseUnconsumed(lease),
            refresh: () => this.leaseSync.refresh(),
            onRevoked: () => this.recoverFromRevocation(),
            // A former member's last namespace read may be old: read it now, then sync shards.
            onElected: () => {
              void this.leaseSync.refresh().catch(() => undefined);
              void this.leaderShardSyncs.sync();
            },
            onShardEnded: (leaseKey, shardId) => {
              // Only a shard of a consumed stream: a bus message cannot make the leader list others.
              const shard = streams.shardOfLeaseKey(leaseKey, shardId);
              if (shard) this.leaderShardSyncs.shardEnded(shard);
            },
            onHandoverMissed: (leaseKey) => this.leaseSync.checkOwnLeasesSoon(leaseKey),
            onPeerLeaving: () => this.leaseSync.checkOwnLeasesAfterPeerLeaving(options.drainTimeoutMs),
            onHandoffAsked: (leaseKey) => void this.leaseSync.checkOwnLease(leaseKey),
            onToldLeaving: () => void this.readOwnRecord(),
            onMarkedLeaving: () => this.noteMarkedLeaving(),
          },
        )
      : undefined;
    if (this.fleet) this.leaseSync.attachFleet(this.fleet);
    const { livenessSelfFenceMs, livenessIntervalMs } = options.coordination;
    this.eventLoop = this.fleet ? new EventLoopWatch(livenessSelfFenceMs - livenessIntervalMs, logger) : undefined;
    const fleet = this.fleet;
    this.shardSync = new ShardSync({
      store,
      kinesis,
      namespace,
      streams,
      initialPosition: options.initialPosition,
      leaseCleanupDelayMs: options.leaseCleanupDelayMs,
      requestTimeoutMs: options.kinesisRequestTimeoutMs,
      // With a bus the leader alone writes leases (creates and cleans up), so a fleet's start
      // makes one write per new lease, not one per lease and worker; a stream the leader does
      // not consume (a deploy adding it is under way) has its leases written by its consumers.
      writesLeases: (streamName) => fleet === undefined || fleet.leader.isLeading() || fleet.directory.leaderLeavesOut(streamName),
      onLeaseDeleted: deps.onLeaseDeleted,
      signal: this.controller.signal,
      clock,
      logger,
    });
    this.leaderShardSyncs = new LeaderShardSyncs({
      syncShards: (after) => this.shardSync.sync(after),
      isLeading: () => fleet?.leader.isLeading() ?? false,
      replan: () => fleet?.leader.replanSoon(),
      signal: this.controller.signal,
      clock,
      logger,
    });
  }

  /**
   * Finds the streams to consume (a pattern lists them), registers this worker and, without a
   * bus, creates the streams' missing leases; then the loops may start. With a bus the leader
   * creates them once elected.
   */
  async register(): Promise<void> {
    await this.deps.streams.start(this.controller.signal);
    await this.deps.beforeRegistering?.(this.deps.streams.names());
    const startedAt = instantOf(this.deps.clock);
    const registered = await this.deps.store.registerWorker(this.deps.namespace, this.deps.workerId, this.registration());
    if (registered.status === 'conflict') {
      throw new Error(`worker id ${this.deps.workerId} is already registered in ${this.deps.namespace}; worker ids must be unique`);
    }
    this.deps.liveness.confirm(startedAt);
    if (this.fleet) return;
    try {
      await this.shardSync.sync();
    } catch (error) {
      await this.deregister().catch(() => undefined);
      throw error;
    }
  }

  start(): void {
    const { leaseSyncIntervalMs, shardSyncIntervalMs } = this.deps.options;
    this.loops.push(
      this.heartbeat.run(this.controller.signal),
      this.every(
        leaseSyncIntervalMs,
        async () => {
          // Only a pattern's streams change while the worker runs; a list's never do.
          if (this.deps.streams.refreshes) this.drainUnconsumed();
          await this.leaseSync.sync();
        },
        'lease sync',
        true,
      ),
      this.every(shardSyncIntervalMs, async () => void (await this.shardSync.sync()), 'shard sync'),
    );
    if (this.deps.streams.refreshes) {
      const intervalMs = this.deps.options.streamRefreshIntervalMs;
      const jittered = () => intervalMs * (1 - STREAM_REFRESH_JITTER + 2 * STREAM_REFRESH_JITTER * Math.random());
      this.loops.push(this.every(jittered, () => this.refreshStreams(), 'stream refresh'));
    }
    const fleet = this.fleet;
    if (fleet) {
      fleet.member.start();
      fleet.election.start();
      this.loops.push(fleet.keeper.run(this.controller.signal));
      this.eventLoop?.start();
      fleet.bus.publish({ type: 'worker-joined', workerId: this.deps.workerId });
    }
  }

  /**
   * From now on, take no leases: the worker is shutting down. Each lease it holds is drained
   * towards the worker the planner picks among the others, so the handoff needs no one to ask.
   * Heartbeats and grants go on until `stop()`.
   */
  async startDraining(): Promise<void> {
    this.draining = true;
    const { store, namespace, workerId, host } = this.deps;
    // At once: the drains have begun and must know their target before the batch in hand is done.
    const moves = this.leaseSync.planShutdownMoves();
    for (const move of moves) host.sendToLease(move.leaseKey, { type: 'DRAIN', reason: 'worker-shutdown', handoffTo: move.to });
    // Each transfer checks its target is a live worker: read their records while the drains run.
    for (const target of new Set(moves.map((move) => move.to))) void this.leaseSync.isLiveWorker(target).catch(() => undefined);
    const result = await store.markWorkerLeaving(namespace, workerId).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'could not mark this worker as leaving');
    });
    if (result?.status === 'conflict') this.logger.warn('worker record was gone when marking it as leaving');
    this.fleet?.bus.publish({ type: 'worker-leaving', workerId });
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.allSettled(this.loops);
    this.eventLoop?.stop();
    const fleet = this.fleet;
    if (!fleet) return;
    fleet.member.stop();
    const term = fleet.election.term();
    await fleet.election.stop();
    // The row is vacant now: name a successor, who claims it at once, long before the grants
    // this leader gave can run out, so the fleet does not pause for the change.
    if (term) {
      const successor = this.leaseSync.successorFor(this.deps.workerId);
      fleet.bus.publish({ type: 'leader-resigned', leaderId: this.deps.workerId, term: term.term, ...(successor ? { successor } : {}) });
    }
  }

  /**
   * Releases whatever this worker still owns (a handoff that landed while it drained, a drain
   * that timed out), so nobody waits a lease duration for it, then removes its record.
   */
  async releaseRemainingAndDeregister(): Promise<void> {
    const { store, namespace, workerId } = this.deps;
    try {
      const { leases } = await store.readNamespace(namespace);
      for (const lease of leases) {
        if (lease.leaseOwner !== workerId || lease.checkpoint.type === 'SHARD_END') continue;
        const ownership = { namespace, leaseKey: lease.leaseKey, leaseOwner: workerId, leaseCounter: lease.leaseCounter };
        const { outcome, to } = await releaseLease(store, { ownership, handoffTo: undefined }, (id) => this.isLiveWorker(id));
        this.logger.info({ shardId: lease.shardId, outcome }, 'gave up a lease still owned at shutdown');
        if (outcome !== 'lost') this.announceRelease(ownership, to);
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'could not release the remaining leases; they expire after the lease duration');
    }
    await this.deregister();
  }

  /** Something may have made this worker a lease's owner unseen: check its own leases at the next sync. */
  checkOwnLeasesSoon(leaseKey?: string): void {
    this.leaseSync.checkOwnLeasesSoon(leaseKey);
  }

  /** As leader: the largest shard lag in the application, from the workers' load reports. */
  applicationMaxLagMs(): number | undefined {
    return this.fleet?.leader.applicationMaxLagMs();
  }

  /** As leader: how many leases its last plan spread over the fleet. */
  plannedLeaseCount(): number | undefined {
    return this.fleet?.leader.plannedLeaseCount();
  }

  /** Whether this worker leads its fleet now. */
  isLeading(): boolean {
    return this.fleet?.leader.isLeading() ?? false;
  }

  /** Leading, and the leadership term has time left (see `FleetLeader.leadsWithTermLeft`). */
  leadsWithTermLeft(): boolean {
    return this.fleet?.leader.leadsWithTermLeft() ?? false;
  }

  /** Whether `workerId` is a registered, active and live worker, as far as the table shows. */
  isLiveWorker(workerId: string): Promise<boolean> {
    return this.leaseSync.isLiveWorker(workerId);
  }

  /** Tells the fleet a lease left this worker, so its next owner starts (or the leader plans) at once. */
  announceRelease(ownership: LeaseOwnership, to: string | undefined): void {
    this.fleet?.bus.publish({
      type: 'lease-released',
      leaseKey: ownership.leaseKey,
      from: ownership.leaseOwner,
      leaseCounter: ownership.leaseCounter + 1,
      ...(to === undefined ? {} : { to }),
    });
  }

  /** Tells the lease's owner this worker asked for it, so it reads the lease now. */
  announceHandoffRequest(lease: Lease): void {
    if (lease.leaseOwner === undefined) return;
    this.fleet?.bus.publish({ type: 'handoff-requested', leaseKey: lease.leaseKey, from: lease.leaseOwner, to: this.deps.workerId });
  }

  /** What this worker's record states: its host, signing key, (several streams) the streams it consumes, and whether it is leaving. */
  private registration(): WorkerRegistration {
    const { streams } = this.deps;
    this.recordedStreams = streams.qualified ? streamSet(streams.names()) : undefined;
    return {
      host: process.env.HOSTNAME,
      fleetKey: this.fleetKey,
      ...(this.fleet ? { ownPlanSubject: true } : {}),
      ...(streams.qualified ? { streams: streams.names() } : {}),
      // Registering again after a revocation: a worker that was leaving must not come back active.
      ...(this.draining || this.markedLeaving ? { status: 'leaving' as const } : {}),
    };
  }

  /**
   * Writes the streams a pattern matches now into this worker's record, if they differ from what
   * it holds (a failed write is tried again at the next refresh): planners hand it only those.
   */
  private async recordStreams(): Promise<void> {
    const { store, namespace, workerId, streams } = this.deps;
    const names = streams.names();
    if (this.recordedStreams === undefined || this.recordedStreams === streamSet(names)) return;
    const written = await store.setWorkerStreams(namespace, workerId, names);
    if (written.status === 'applied') this.recordedStreams = streamSet(names);
  }

  /** Removes this worker's record. */
  async deregister(): Promise<void> {
    await this.deps.store.deregisterWorker(this.deps.namespace, this.deps.workerId);
  }

  /**
   * This worker finished a shard: its children's leases must be created now, so a child starts
   * at once instead of at the next shard sync. The leader creates them when told (this worker,
   * if it leads, or cannot reach the leader); without a bus this worker does, and syncs.
   */
  async shardEnded(lease: Lease): Promise<void> {
    const fleet = this.fleet;
    const streamName = this.deps.streams.streamOf(lease);
    const shard = streamName === undefined ? undefined : { streamName, shardId: lease.shardId };
    if (fleet?.leader.isLeading()) await this.leaderShardSyncs.sync(shard);
    else if (shard && !(fleet?.bus.isConnected() && this.leaseSync.hearsLeader() && !fleet.directory.leaderLeavesOut(shard.streamName))) {
      try {
        await this.shardSync.sync(shard, { evenIfNotLeader: true });
      } catch (error) {
        this.logger.warn({ err: error, shardId: lease.shardId }, 'could not sync shards after a shard end; the periodic sync will');
      }
    }
    fleet?.bus.publish({ type: 'shard-ended', leaseKey: lease.leaseKey, shardId: lease.shardId, from: this.deps.workerId });
    if (!fleet) await this.leaseSync.sync().catch(() => undefined);
  }

  /**
   * Matches the stream pattern again. A new stream gets its leases (from the leader, or from this
   * worker without a bus); this worker drains and releases the leases it holds of a stream it no
   * longer consumes, with a final checkpoint, and nobody takes them again while the stream stays
   * out. Their rows stay, so a stream that comes back resumes where it left off.
   */
  private async refreshStreams(): Promise<void> {
    this.lastStreamRefreshAt = this.deps.clock.monotonic();
    const { added, removed } = await this.deps.streams.refresh(this.controller.signal);
    await this.recordStreams().catch((error: unknown) =>
      this.logger.warn({ err: error }, 'could not record the streams this worker consumes; the next refresh tries again'),
    );
    if (removed.length > 0) {
      this.drainUnconsumed();
      this.fleet?.leader.replanSoon();
    }
    if (added.length > 0) {
      if (this.fleet?.leader.isLeading()) await this.leaderShardSyncs.sync();
      else if (!this.fleet) await this.shardSync.sync();
    }
  }

  /** The leader planned a lease of a stream this worker does not know: its list may be behind (a pattern only). */
  private refreshStreamsSoon(): void {
    if (!this.deps.streams.refreshes) return;
    if (this.deps.clock.monotonic() - this.lastStreamRefreshAt < PROMPTED_STREAM_REFRESH_SPACING_MS) return;
    void this.refreshStreams().catch((error: unknown) => this.logger.warn({ err: error }, 'stream refresh failed'));
  }

  /** Drains each lease this worker runs whose stream it no longer consumes; the drain checkpoints and releases it. */
  private drainUnconsumed(): void {
    for (const [leaseKey, machine] of this.deps.host.hostedLeases()) {
      if (machine.state === 'owned' && !this.deps.streams.consumes({ streamName: machine.streamName })) {
        this.deps.host.sendToLease(leaseKey, { type: 'DRAIN', reason: 'stream-removed' });
      }
    }
  }

  /**
   * Gives up, unprocessed, a lease of a stream this worker does not consume that the table says it
   * owns (handed over by a leader with another stream list): a conditional release of the epoch
   * seen, so a lease that moved on meanwhile is left alone.
   */
  private releaseUnconsumed(lease: Lease): void {
    const { store, namespace, workerId } = this.deps;
    if (lease.leaseOwner !== workerId || this.releasing.has(lease.leaseKey)) return;
    this.releasing.add(lease.leaseKey);
    const ownership = { namespace, leaseKey: lease.leaseKey, leaseOwner: workerId, leaseCounter: lease.leaseCounter };
    void releaseLease(store, { ownership, handoffTo: undefined }, (id) => this.isLiveWorker(id))
      .then(({ outcome, to }) => {
        this.logger.info(
          { leaseKey: lease.leaseKey, streamName: lease.streamName, outcome },
          'gave up a lease of a stream this worker does not consume',
        );
        if (outcome !== 'lost') this.announceRelease(ownership, to);
      })
      .catch((error: unknown) =>
        this.logger.warn({ err: error, leaseKey: lease.leaseKey }, 'could not give up a lease of a stream this worker does not consume'),
      )
      .finally(() => this.releasing.delete(lease.leaseKey));
  }

  /**
   * An operator marked this worker leaving (`shoal drain`), as its heartbeat's answer, its own
   * record or the leader's grants show: it takes no lease, and registers as leaving if it must
   * register again.
   */
  private noteOwnRecord(record: WorkerRecord): void {
    if (record.status === 'leaving') this.noteMarkedLeaving();
  }

  private noteMarkedLeaving(): void {
    if (this.markedLeaving) return;
    this.markedLeaving = true;
    this.logger.info('this worker was marked leaving: it takes no leases until it restarts');
  }

  private async readOwnRecord(): Promise<void> {
    const record = await this.deps.store.getWorker(this.deps.namespace, this.deps.workerId).catch((error: unknown) => {
      this.logger.debug({ err: error }, 'could not read this worker record');
      return undefined;
    });
    if (record) this.noteOwnRecord(record);
  }

  private mayTakeLeases(): boolean {
    return !this.draining && !this.markedLeaving && !this.deps.liveness.isFenced() && this.recovering === undefined;
  }

  /** Our record is gone (judged dead): drop every lease, then register again in `table` mode. */
  private recoverFromRevocation(): Promise<void> {
    this.recovering ??= (async () => {
      const { store, namespace, workerId, liveness, clock } = this.deps;
      this.fence.reset();
      this.fence.report();
      const startedAt = instantOf(clock);
      const again = await store.registerWorker(namespace, workerId, this.registration());
      if (again.status === 'applied') liveness.enterTable(startedAt);
    })().finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  /** Runs `task` every `intervalMs` until stopped; a failure is logged and the loop goes on. */
  private async every(interval: number | (() => number), task: () => Promise<void>, name: string, immediately = false): Promise<void> {
    const signal = this.controller.signal;
    const intervalMs = () => (typeof interval === 'number' ? interval : interval());
    if (!immediately) await this.deps.clock.sleep(intervalMs(), signal).catch(() => undefined);
    while (!signal.aborted) {
      try {
        await task();
      } catch (error) {
        if (signal.aborted) return;
        this.logger.warn({ err: error }, `${name} failed`);
      }
      await this.deps.clock.sleep(intervalMs(), signal).catch(() => undefined);
    }
  }
}

/** A set of stream names in one comparable string. */
function streamSet(names: readonly string[]): string {
  return [...names].sort().join('\n');
}
