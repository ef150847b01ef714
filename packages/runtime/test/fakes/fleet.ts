import {
  OwnershipTracker,
  type CommandReply,
  type CoordinationBus,
  type FleetEvent,
  type LeaseStore,
  type WorkerCommand,
  type WorkerRecord,
} from '@shoal/coordinator';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { pino } from 'pino';
import type { Clock } from '../../src/clock.js';
import { FleetLeader, type FleetLeaderOptions } from '../../src/fleet/leader/fleet-leader.js';
import { LeaseSync, type LeaseSyncOptions } from '../../src/fleet/lease-sync/lease-sync.js';
import type { PlannerStreams } from '../../src/fleet/stream-eligibility.js';
import { ConsumedStreams } from '../../src/streams/consumed-streams.js';
import type { HostedLease, LeaseHost } from '../../src/leases/lease-host.js';
import type { LeaseMachineEvent } from '../../src/machines/lease-machine.js';
import { RecordingClock } from './fake-clock.js';

/** A worker record of the test namespace: `nats` mode on term 2 unless told otherwise. */
export function workerRecord(workerId: string, overrides: Partial<WorkerRecord> = {}): WorkerRecord {
  return {
    namespace: 'app/stream',
    workerId,
    heartbeat: 1,
    status: 'active',
    liveness: 'nats',
    grantTerm: 2,
    startedAt: 0,
    host: undefined,
    ownPlanSubject: true,
    ...overrides,
  };
}

/** A lease host that hosts nothing and records nothing: for tests that watch something else. */
export function quietHost(overrides: Partial<LeaseHost> = {}): LeaseHost {
  const host: LeaseHost = {
    hostedLeases: () => new Map(),
    hostedLease: (leaseKey) => host.hostedLeases().get(leaseKey),
    relinquishedEpoch: () => undefined,
    forgetRelinquishedExcept: () => {},
    startLease: () => {},
    sendToLease: () => {},
    fenced: () => {},
    ...overrides,
  };
  return host;
}

/** A lease host over `hosted` that records the leases started and the events sent to lease machines. */
export function recordingHost(hosted: ReadonlyMap<string, HostedLease>) {
  const sent: { leaseKey: string; event: LeaseMachineEvent }[] = [];
  const started: { leaseKey: string; mode: string }[] = [];
  const host: LeaseHost = {
    hostedLeases: () => hosted,
    hostedLease: (leaseKey) => hosted.get(leaseKey),
    relinquishedEpoch: () => undefined,
    forgetRelinquishedExcept: () => {},
    startLease: (lease, mode) => void started.push({ leaseKey: lease.leaseKey, mode }),
    sendToLease: (leaseKey, event) => void sent.push({ leaseKey, event }),
    fenced: () => {},
  };
  return { host, sent, started };
}

/** A single-stream worker's streams: it consumes every lease. */
export const everyStream: PlannerStreams = { consumes: () => true, selects: () => true };

/** Clocks a test moves by hand: wall time runs with the monotonic clock. */
export function manualClock(): { clock: Clock; advance: (ms: number) => void; set: (ms: number) => void } {
  let now = 0;
  return {
    clock: { now: () => 1_700_000_000_000 + now, monotonic: () => now, sleep: async () => {} },
    advance: (ms) => void (now += ms),
    set: (ms) => void (now = ms),
  };
}

/** A lease sync of worker `worker-a` on `store`, taking no leases and hearing no leader unless told. */
export function leaseSyncOn(store: unknown, overrides: Partial<LeaseSyncOptions> = {}): LeaseSync {
  return new LeaseSync({
    store: store as LeaseStore,
    namespace: 'app/stream',
    workerId: 'worker-a',
    host: quietHost(),
    leaseDurationMs: 15_000,
    leaseSyncIntervalMs: 1_000,
    maxLeasesPerWorker: undefined,
    mayTakeLeases: () => false,
    streams: everyStream,
    releaseUnconsumed: () => {},
    hearsLeader: () => false,
    joinGraceMs: 0,
    leaderFullSyncIntervalMs: 0,
    ownLeaseCheckIntervalMs: 0,
    clock: new RecordingClock(),
    logger: pino({ level: 'silent' }),
    ...overrides,
  });
}

/** A bus that delivers nothing and answers nothing; `overrides` for what a test watches. */
export function silentBus(overrides: Partial<CoordinationBus> = {}): CoordinationBus {
  return {
    application: 'app',
    streamName: 'stream',
    isConnected: () => true,
    publish: () => {},
    onEvent: () => () => {},
    publishPlan: () => {},
    onPlans: () => () => {},
    serveCommands: () => () => {},
    serveLiveness: () => () => {},
    sendCommand: async () => undefined,
    requestLiveness: async () => undefined,
    reject: () => {},
    close: async () => {},
    ...overrides,
  };
}

/** The leader part of worker `leader` with default timings (grants 1.5 s, revocation 2 s); elect it with `elected()`. */
export function fleetLeaderWith(overrides: Partial<FleetLeaderOptions> & Pick<FleetLeaderOptions, 'clock'>): FleetLeader {
  return new FleetLeader({
    bus: silentBus(),
    store: {} as LeaseStore,
    namespace: 'app/stream',
    workerId: 'leader',
    fleetKey: 'leader-key',
    ownerships: new OwnershipTracker(15_000, overrides.clock.monotonic),
    maxLeasesPerWorker: undefined,
    streams: everyStream,
    lookUpWorker: async () => undefined,
    loadStore: undefined,
    application: 'app',
    loadRefreshMs: 5_000,
    grantValidForMs: 1_500,
    revokeAfterMs: 2_000,
    remainingTermMs: () => 2_000,
    heldTerm: () => undefined,
    refresh: async () => {},
    actOnOwnMoves: () => {},
    logger: pino({ level: 'silent' }),
    ...overrides,
  });
}

/** The bus as a worker sees it: the test delivers events and commands as anyone on NATS could. */
export class OpenBus {
  eventHandler: ((event: FleetEvent) => void) | undefined;
  planHandler: ((plan: FleetEvent) => void) | undefined;
  commandHandler: ((command: WorkerCommand) => Promise<CommandReply> | CommandReply) | undefined;
  rejected: string[] = [];
  readonly application = 'app';
  isConnected = () => true;
  publish() {}
  onEvent(handler: (event: FleetEvent) => void) {
    this.eventHandler = handler;
    return () => {};
  }
  /** Plans sent to this worker's own subject arrive here as well: the test delivers both alike. */
  onPlans(_workerId: string, handler: (plan: FleetEvent) => void) {
    this.planHandler = handler;
    return () => {};
  }
  serveCommands(_workerId: string, handler: (command: WorkerCommand) => Promise<CommandReply> | CommandReply) {
    this.commandHandler = handler;
    return () => {};
  }
  reject(_subject: string, reason: string) {
    this.rejected.push(reason);
  }
}

/** The streams of an application consuming `streamName` alone. */
export function singleStream(streamName = 'stream'): ConsumedStreams {
  return new ConsumedStreams({
    selection: { kind: 'single', streamName },
    kinesis: {} as KinesisClient,
    requestTimeoutMs: 5_000,
    logger: pino({ level: 'silent' }),
  });
}
