import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  DynamoDbLeaseStore,
  UnlimitedShardReadBudget,
  leaseNamespace,
  type Lease,
  type LeaseStatePublisher,
  type LeaseStore,
  type Logger,
  type ShardReadBudget,
} from '@shoal/coordinator';
import { ShutdownError, formatCheckpoint } from '@shoal/processor-sdk';
import { pino } from 'pino';
import { createActor, fromCallback, fromPromise, toPromise, type InspectionEvent } from 'xstate';
import { systemClock, type Clock } from '../clock.js';
import { IdleReadPacer } from '../consumer/idle-read-pacer.js';
import { pollingSources, type RecordSourceFactory } from '../consumer/record-sources.js';
import { FanOut } from '../fan-out/fan-out-sources.js';
import { MetricsServer, type Readiness } from '../metrics/metrics-server.js';
import { PrometheusMetrics } from '../metrics/prometheus-metrics.js';
import { ShardLags, allOf } from '../metrics/shard-lags.js';
import { TrafficRecorder } from '../metrics/traffic-recorder.js';
import type { WorkerObserver } from '../metrics/worker-observer.js';
import { InvalidOptionsError } from '../errors.js';
import { leaseStateName, type LeaseMachineSnapshot } from '../machines/lease-machine.js';
import { LEASE_ACTOR_PREFIX, hostedRef, workerMachine, type CoordinatorCommand, type WorkerActorRef } from '../machines/worker-machine.js';
import { LeaseCoordinator } from '../fleet/lease-coordinator.js';
import { WorkerLiveness } from '../fleet/liveness/worker-liveness.js';
import { createLeaseMachine } from '../leases/lease-actors.js';
import type { HostedLease, LeaseHost } from '../leases/lease-host.js';
import { ConsumedStreams } from '../streams/consumed-streams.js';
import { AutoscaleDuty } from './autoscale-duty.js';
import { FleetServices } from './fleet-services.js';
import { WorkerLiveReporter } from './live-reporter.js';
import { LoadReporter } from './load-reporter.js';
import { resolveWorkerOptions, selfFenceAfterMs, type ResolvedWorkerOptions, type WorkerOptions } from './worker-options.js';

export type WorkerState = 'created' | 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/** One lease this worker hosts, as shown to operators. */
export interface WorkerLeaseView {
  readonly leaseKey: string;
  readonly streamName: string;
  readonly shardId: string;
  /** Dotted machine state: `owned.processing`, `draining`, `pending.awaitingHandoff`... */
  readonly state: string;
  readonly checkpoint: string;
}

/**
 * A Shoal worker node: takes its share of the stream's shard leases and runs a lease machine,
 * with a shard consumer and a fresh record processor, for each.
 *
 * @example
 * ```ts
 * const worker = await Worker.create({ applicationName: 'billing', streamName: 'orders', processorFactory });
 * const running = worker.run();
 * process.once('SIGTERM', () => void worker.shutdown());
 * await running;
 * ```
 */
export class Worker implements AsyncDisposable {
  readonly workerId: string;
  readonly applicationName: string;
  /** The stream, for a worker of one stream; undefined when it consumes several (see `streamNames()`). */
  readonly streamName: string | undefined;
  private readonly streams: ConsumedStreams;
  private readonly options: ResolvedWorkerOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly kinesis: KinesisClient;
  private readonly dynamoDb: DynamoDBClient;
  private readonly ownsKinesis: boolean;
  private readonly ownsDynamoDb: boolean;
  private readonly store: LeaseStore;
  private readonly publisher: LeaseStatePublisher | undefined;
  /** The bus, publisher, read budget and load store built from the `nats` and `redis` options. */
  private readonly services: FleetServices;
  /** Kept only when `metrics` asks for a server. */
  private readonly metrics: PrometheusMetrics | undefined;
  private metricsServer: MetricsServer | undefined;
  /** Each shard's lag at its last batch, for the load this worker reports. */
  private readonly lags = new ShardLags();
  /** What the shard consumers and lease transitions are reported to: the lags, and the metrics if kept. */
  private readonly observer: WorkerObserver;
  /** Counts the traffic windows, when there is somewhere to write them. */
  private readonly traffic: TrafficRecorder | undefined;
  private liveness: WorkerLiveness | undefined;
  private coordinator: LeaseCoordinator | undefined;
  private readonly idlePacer: IdleReadPacer;
  private readonly readBudget: ShardReadBudget;
  /** Set when the worker reads by enhanced fan-out. */
  private readonly fanOut: FanOut | undefined;
  /** Aborted when the worker is shut down before it started. */
  private readonly startup = new AbortController();
  private actor: WorkerActorRef | undefined;
  private runPromise: Promise<void> | undefined;
  private closed = false;
  private readonly published = new Map<string, string>();
  /** Who waits for a lease machine to leave `pending` (see LeaseHost.untilSettled). */
  private readonly settleWaiters = new Map<string, Set<() => void>>();

  private constructor(resolved: ResolvedWorkerOptions) {
    const logger = (resolved.logger ?? pino({ name: 'shoal' })).child({ workerId: resolved.workerId });
    this.services = new FleetServices(resolved, logger);
    const options: ResolvedWorkerOptions = {
      ...resolved,
      coordinationBus: this.services.coordinationBus,
      leaseStatePublisher: this.services.leaseStatePublisher,
      readBudget: this.services.readBudget,
      workerLoadStore: this.services.workerLoadStore,
    };
    this.options = options;
    this.workerId = options.workerId;
    this.applicationName = options.applicationName;
    this.streamName = options.streamName;
    this.clock = options.clock ?? systemClock;
    this.logger = logger;
    this.ownsKinesis = !(options.kinesis instanceof KinesisClient);
    this.kinesis = options.kinesis instanceof KinesisClient ? options.kinesis : new KinesisClient(options.kinesis);
    this.ownsDynamoDb = !(options.dynamoDb instanceof DynamoDBClient);
    this.dynamoDb = options.dynamoDb instanceof DynamoDBClient ? options.dynamoDb : new DynamoDBClient(options.dynamoDb);
    this.store = new DynamoDbLeaseStore({
      client: this.dynamoDb,
      tableName: options.leaseTableName,
      requestTimeoutMs: options.dynamoDbRequestTimeoutMs,
    });
    this.publisher = options.leaseStatePublisher;
    this.idlePacer = new IdleReadPacer(options.retrieval.idleReadsPerSecond);
    this.readBudget = options.readBudget ?? new UnlimitedShardReadBudget();
    this.fanOut = options.fanOut
      ? new FanOut({
          kinesis: this.kinesis,
          kinesisOption: options.kinesis,
          fanOut: options.fanOut,
          retrieval: options.retrieval,
          budget: this.readBudget,
          requestTimeoutMs: options.kinesisRequestTimeoutMs,
          clock: this.clock,
          logger,
        })
      : undefined;
    this.metrics = options.metrics
      ? new PrometheusMetrics(
          { application: options.applicationName, worker: options.workerId },
          {
            leaseStates: () => this.leases().map((lease) => lease.state.split('.')[0]!),
            livenessMode: () => this.liveness?.mode,
            leading: () => this.coordinator?.isLeading() ?? false,
            plannedLeases: () => this.coordinator?.plannedLeaseCount(),
            applicationMaxLagMs: () => this.coordinator?.applicationMaxLagMs(),
          },
          options.metrics.targetLeasesPerWorker,
        )
      : undefined;
    this.traffic = this.services.trafficSink
      ? new TrafficRecorder({
          sink: this.services.trafficSink,
          application: options.applicationName,
          rangeOf: (streamName, shardId) => this.hashKeyRangeOf(streamName, shardId),
          flushIntervalMs: options.trafficFlushIntervalMs,
          ownedShards: () => this.leases().filter((lease) => lease.state.startsWith('owned')),
          logger,
        })
      : undefined;
    this.observer = allOf(...[this.metrics, this.lags, this.traffic].filter((observer) => observer !== undefined));
    this.streams = new ConsumedStreams({
      selection: options.streamSelection,
      kinesis: this.kinesis,
      requestTimeoutMs: options.kinesisRequestTimeoutMs,
      logger: this.logger,
    });
  }

  /**
   * Validates the options (throwing `InvalidOptionsError` that names every bad field) and
   * makes sure the lease table exists with the right schema.
   */
  static async create(options: WorkerOptions): Promise<Worker> {
    const worker = new Worker(resolveWorkerOptions(options));
    try {
      await worker.store.ensureTable();
      await worker.serveMetrics();
    } catch (error) {
      await worker.close();
      throw error;
    }
    return worker;
  }

  /** The port of `/metrics`, `/healthz` and `/readyz`; undefined without the `metrics` option. */
  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  /** Whether the worker is ready for work: running, joined to its fleet, and not fenced. */
  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.state !== 'running') reasons.push(`the worker is ${this.state}`);
    if (this.liveness?.isFenced() ?? true) reasons.push('its liveness is not confirmed (fenced, or not yet joined)');
    return { ready: reasons.length === 0, reasons };
  }

  private async serveMetrics(): Promise<void> {
    const { metrics } = this.options;
    if (!metrics || !this.metrics) return;
    try {
      this.metricsServer = await MetricsServer.start({
        port: metrics.port,
        ...(metrics.host === undefined ? {} : { host: metrics.host }),
        registry: this.metrics.registry,
        alive: () => this.state !== 'failed',
        readiness: () => this.readiness(),
      });
    } catch (error) {
      throw new InvalidOptionsError(
        [
          `metrics: cannot listen on ${metrics.host ?? '0.0.0.0'}:${metrics.port} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
        ],
        { cause: error },
      );
    }
  }

  get state(): WorkerState {
    if (!this.actor) return this.closed ? 'stopped' : 'created';
    const snapshot = this.actor.getSnapshot();
    if (snapshot.matches('starting')) return 'starting';
    if (snapshot.matches({ active: 'running' })) return 'running';
    if (snapshot.matches({ active: 'draining' }) || snapshot.matches('stopping')) return 'draining';
    return snapshot.matches('failed') ? 'failed' : 'stopped';
  }

  /** The streams this worker consumes now (a pattern's matches as last listed). */
  streamNames(): readonly string[] {
    return this.streams.names();
  }

  /** The leases this worker hosts now, in any machine state. */
  leases(): WorkerLeaseView[] {
    const leases = this.actor?.getSnapshot().context.leases ?? {};
    return Object.entries(leases).map(([leaseKey, ref]) => {
      const snapshot = ref.getSnapshot();
      return {
        leaseKey,
        streamName: this.streamOf(snapshot.context.lease),
        shardId: snapshot.context.lease.shardId,
        state: leaseStateName(snapshot),
        checkpoint: formatCheckpoint(snapshot.context.checkpoint),
      };
    });
  }

  /**
   * Starts the worker and resolves once it has stopped again (after `shutdown()`), or rejects
   * when it could not start. Calling it again returns the same promise.
   */
  run(): Promise<void> {
    if (this.closed) return Promise.reject(new ShutdownError(`worker ${this.workerId} is closed`));
    this.runPromise ??= this.startActor();
    return this.runPromise;
  }

  /**
   * Drains every lease (the batch in hand finishes, `shutdownRequested` lets the processor
   * checkpoint), hands each to the worker that asked for it or releases it, and stops.
   */
  async shutdown(): Promise<void> {
    const actor = this.actor;
    if (!actor) return;
    // Waiting for a stream consumer to become ACTIVE is not worth finishing once asked to stop.
    if (this.state === 'starting') this.startup.abort(new ShutdownError(`worker ${this.workerId} was shut down while starting`));
    if (actor.getSnapshot().status === 'active') actor.send({ type: 'SHUTDOWN' });
    await this.runPromise?.catch(() => undefined);
  }

  /** Shuts down if running, then frees the clients and sinks this worker created. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.shutdown();
    this.closed = true;
    this.idlePacer.close();
    this.fanOut?.close();
    await this.traffic?.close();
    await this.metricsServer?.close();
    await this.services.close();
    if (this.ownsKinesis) this.kinesis.destroy();
    if (this.ownsDynamoDb) this.dynamoDb.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async startActor(): Promise<void> {
    const liveness = new WorkerLiveness(selfFenceAfterMs(this.options), this.clock);
    this.liveness = liveness;
    const namespace = leaseNamespace(this.applicationName, this.streams.singleStream);
    const loadStore = this.options.workerLoadStore;
    const loadReporter = loadStore
      ? new LoadReporter({
          store: loadStore,
          application: this.applicationName,
          workerId: this.workerId,
          intervalMs: this.options.loadReportIntervalMs,
          logger: this.logger,
          maxLagMs: () => this.lags.max(),
        })
      : undefined;
    const liveReporter = this.createLiveReporter();
    const autoscaling = this.createAutoscaleDuty(() => coordinator.leadsWithTermLeft());
    const host = this.createLeaseHost();
    const coordinator = (this.coordinator = new LeaseCoordinator({
      store: this.store,
      kinesis: this.kinesis,
      namespace,
      streams: this.streams,
      workerId: this.workerId,
      host,
      liveness,
      bus: this.options.coordinationBus,
      options: this.options,
      onLeaseDeleted: (lease) => this.publisher?.forget?.(this.streamOf(lease), lease.leaseKey),
      // A stream consumer that cannot be registered fails the start, before any lease is taken.
      ...(this.fanOut
        ? { beforeRegistering: (streamNames: readonly string[]) => this.fanOut!.prepare(streamNames, this.startup.signal) }
        : {}),
      clock: this.clock,
      logger: this.logger,
    }));
    const leaseMachine = createLeaseMachine({
      store: this.store,
      processorFactory: this.options.processorFactory,
      streamOf: (lease) => this.streamOf(lease),
      workerId: this.workerId,
      options: this.options,
      sources: this.fanOut?.sources ?? this.pollingSources(),
      observer: this.observer,
      clock: this.clock,
      logger: this.logger,
      liveness,
      isLiveWorker: (workerId) => coordinator.isLiveWorker(workerId),
      onReleased: (ownership, to) => coordinator.announceRelease(ownership, to),
      onOwnershipUncertain: (leaseKey) => coordinator.checkOwnLeasesSoon(leaseKey),
      onHandoffRequested: (lease) => coordinator.announceHandoffRequest(lease),
      onProcessed: (count) => loadReporter?.recordProcessed(count),
      onShardEnded: (lease) => void coordinator.shardEnded(lease),
    });
    const machine = workerMachine.provide({
      actors: {
        leaseMachine,
        startup: fromPromise(async () => {
          try {
            await coordinator.register();
          } catch (error) {
            // Shut down while its stream consumers were being registered: it stops as it was asked.
            if (this.startup.signal.aborted) return;
            throw error;
          }
        }),
        coordinator: fromCallback<CoordinatorCommand>(({ receive }) => {
          coordinator.start();
          loadReporter?.start();
          liveReporter?.start();
          autoscaling?.start();
          receive(() => void coordinator.startDraining());
          return () => {
            loadReporter?.stop();
            liveReporter?.stop();
            void autoscaling?.stop();
            void coordinator.stop();
          };
        }),
        cleanup: fromPromise(async () => {
          await coordinator.stop();
          await coordinator
            .releaseRemainingAndDeregister()
            .catch((error: unknown) => this.logger.warn({ err: error }, 'could not deregister worker'));
        }),
      },
    });
    const actor = createActor(machine, {
      input: {
        workerId: this.workerId,
        drainTimeoutMs: this.options.drainTimeoutMs,
        handoffWaitMs: this.options.handoffWaitMs,
        abortGraceMs: this.options.abortGraceMs,
        shutdownTimeoutMs: this.options.drainTimeoutMs + this.options.abortGraceMs + 5_000,
      },
      inspect: (event) => this.publishLeaseState(event),
    });
    this.actor = actor;
    actor.start();
    this.logger.info(
      { applicationName: this.applicationName, streamName: this.streamName, streams: this.options.streamSelection },
      'worker starting',
    );
    await toPromise(actor);
    const snapshot = actor.getSnapshot();
    if (snapshot.matches('failed')) {
      this.logger.error({ err: snapshot.context.error }, 'worker failed to start');
      throw snapshot.context.error;
    }
    this.logger.info('worker stopped');
  }

  private pollingSources(): RecordSourceFactory {
    return pollingSources({
      kinesis: this.kinesis,
      retrieval: this.options.retrieval,
      budget: this.readBudget,
      idlePacer: this.idlePacer,
      requestTimeoutMs: this.options.kinesisRequestTimeoutMs,
      clock: this.clock,
    });
  }

  /** The leader's autoscaling, when asked for. */
  private createAutoscaleDuty(isLeading: () => boolean): AutoscaleDuty | undefined {
    const { autoscale } = this.options;
    const services = this.services.autoscaling;
    if (!autoscale || !services) return undefined;
    return new AutoscaleDuty({
      autoscale,
      kinesis: this.kinesis,
      traffic: services.traffic,
      history: services.history,
      hold: (streamName, ttlMs) => services.history.hold(streamName, ttlMs),
      streamNames: () => this.streams.names(),
      isLeading,
      logger: this.logger.child({ duty: 'autoscale' }),
    });
  }

  /** Reports for live observers, when the lease-state sink has any. */
  private createLiveReporter(): WorkerLiveReporter | undefined {
    const publisher = this.publisher;
    if (!publisher?.reportWorker) return undefined;
    return new WorkerLiveReporter({
      publisher: { reportWorker: (report) => publisher.reportWorker?.(report) },
      intervalMs: this.options.loadReportIntervalMs,
      report: () => ({
        application: this.applicationName,
        workerId: this.workerId,
        state: this.state,
        leading: this.coordinator?.isLeading() ?? false,
        ...(this.liveness === undefined ? {} : { liveness: this.liveness.mode }),
        at: this.clock.now(),
        shards: this.lags.entries(),
      }),
    });
  }

  private untilSettled(leaseKey: string, timeoutMs: number): Promise<void> {
    const ref = this.actor ? hostedRef(this.actor.getSnapshot().context, leaseKey) : undefined;
    if (!ref || !leaseStateName(ref.getSnapshot()).startsWith('pending')) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.settleWaiters.get(leaseKey) ?? new Set();
      this.settleWaiters.set(leaseKey, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.settleWaiters.get(leaseKey) === waiters) this.settleWaiters.delete(leaseKey);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      waiters.add(done);
    });
  }

  private settled(leaseKey: string): void {
    for (const done of [...(this.settleWaiters.get(leaseKey) ?? [])]) done();
  }

  /** The hash key range of a shard whose lease this worker hosts. */
  private hashKeyRangeOf(streamName: string, shardId: string): { startingHashKey: string; endingHashKey: string } | undefined {
    const leases = this.actor?.getSnapshot().context.leases ?? {};
    for (const ref of Object.values(leases)) {
      const { lease } = ref.getSnapshot().context;
      if (lease.shardId === shardId && this.streamOf(lease) === streamName) return lease.hashKeyRange;
    }
    return undefined;
  }

  /** A lease's stream (a lease this worker hosts always has one: it was eligible when taken). */
  private streamOf(lease: Lease): string {
    return this.streams.streamOf(lease) ?? lease.streamName ?? '';
  }

  private createLeaseHost(): LeaseHost {
    const context = () => this.actor?.getSnapshot().context;
    return {
      hostedLeases: () => {
        const hosted = new Map<string, HostedLease>();
        for (const [leaseKey, ref] of Object.entries(context()?.leases ?? {})) hosted.set(leaseKey, hostedLeaseOf(ref));
        return hosted;
      },
      hostedLease: (leaseKey) => {
        const current = context();
        const ref = current ? hostedRef(current, leaseKey) : undefined;
        return ref ? hostedLeaseOf(ref) : undefined;
      },
      relinquishedEpoch: (leaseKey) => {
        const relinquished = context()?.relinquished;
        return relinquished && Object.hasOwn(relinquished, leaseKey) ? relinquished[leaseKey] : undefined;
      },
      forgetRelinquishedExcept: (keep) => this.actor?.send({ type: 'LEASES.FORGET_RELINQUISHED', keep }),
      startLease: (lease, mode) => this.actor?.send({ type: 'LEASE.START', lease, mode }),
      untilSettled: (leaseKey, timeoutMs) => this.untilSettled(leaseKey, timeoutMs),
      sendToLease: (leaseKey, event) => this.actor?.send({ type: 'LEASE.FORWARD', leaseKey, event }),
      fenced: () => this.actor?.send({ type: 'WORKER.FENCED' }),
    };
  }

  /** Publishes each lease machine transition (state, reason, checkpoint) once. */
  private publishLeaseState(event: InspectionEvent): void {
    if (event.type !== '@xstate.snapshot') return;
    const actorId = (event.actorRef as { id?: string }).id;
    if (!actorId?.startsWith(LEASE_ACTOR_PREFIX)) return;
    const snapshot = event.snapshot as LeaseMachineSnapshot;
    const { lease, endReason, lostReason, ownership, checkpoint } = snapshot.context;
    const state = leaseStateName(snapshot);
    if (!state.startsWith('pending') || snapshot.status === 'done') this.settled(lease.leaseKey);
    const formatted = formatCheckpoint(checkpoint);
    const reason = state === 'stolen' || state === 'losing' ? lostReason : endReason;
    const fingerprint = `${state}|${reason ?? ''}|${formatted}`;
    const previous = this.published.get(lease.leaseKey);
    if (previous === fingerprint) return;
    const topState = state.split('.')[0]!;
    if (previous?.split(/[.|]/u)[0] !== topState) {
      this.observer.leaseTransition(this.streamOf(lease), lease.shardId, topState);
    }
    this.published.set(lease.leaseKey, fingerprint);
    if (snapshot.status === 'done') this.published.delete(lease.leaseKey);
    this.logger.debug({ shardId: lease.shardId, leaseKey: lease.leaseKey, state, reason, checkpoint: formatted }, 'lease state');
    this.publisher?.publish({
      application: this.applicationName,
      streamName: this.streamOf(lease),
      leaseKey: lease.leaseKey,
      shardId: lease.shardId,
      workerId: this.workerId,
      state,
      ...(reason === undefined ? {} : { reason }),
      ...(ownership === undefined ? {} : { leaseCounter: ownership.leaseCounter }),
      checkpoint: formatted,
      at: this.clock.now(),
    });
  }
}

function hostedLeaseOf(ref: { getSnapshot(): LeaseMachineSnapshot }): HostedLease {
  const snapshot = ref.getSnapshot();
  const { ownership, lease } = snapshot.context;
  return { state: leaseStateName(snapshot).split('.')[0]!, ownership, streamName: lease.streamName };
}
