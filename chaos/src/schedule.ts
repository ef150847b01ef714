import { CHAOS_EVENT_KINDS, type ChaosEventKind } from './event-kinds.js';
import { createPrng } from './prng.js';

/** One event the runner will inject, `atMs` after the load started. */
export interface ScheduledEvent {
  readonly atMs: number;
  readonly kind: ChaosEventKind;
  /** How long the fault lasts (pause, partition, server down, SDK fault); 0 for instantaneous events. */
  readonly durationMs: number;
  /** For SDK faults: the share of affected calls hit while the fault is on. */
  readonly probability: number;
  /** In [0, 1): picks the target among the candidates at the time (worker, shard). */
  readonly pick: number;
  /** After SIGKILL or SIGTERM: how long until a fresh worker replaces the one that went. */
  readonly restartDelayMs: number;
}

/** A whole run as the seed decides it. */
export interface ChaosPlan {
  readonly seed: number;
  readonly workers: number;
  readonly shards: number;
  /** How long the load runs; events happen inside it. */
  readonly loadMs: number;
  readonly events: readonly ScheduledEvent[];
}

export interface PlanOptions {
  readonly seed: number;
  readonly loadMs: number;
  /** Overrides of the seeded fleet size (3 to 5) and initial shard count (8 to 12). */
  readonly workers?: number;
  readonly shards?: number;
}

/** No event in the first seconds of load (the fleet settles) nor in the last ones (the last event recovers before the end). */
const FIRST_EVENT_MS = 12_000;
const QUIET_TAIL_MS = 20_000;
/** An event every 10 to 20 s... */
const GAP_MS: readonly [number, number] = [10_000, 20_000];
/** ...but never before the previous one ended and the fleet had this long to recover. */
const RECOVERY_MS: Partial<Record<ChaosEventKind, number>> = {
  sigkill: 8_000,
  'sigkill-leader': 8_000,
  sigterm: 6_000,
  sigstop: 8_000,
  'sigstop-leader': 8_000,
  'partition-worker': 6_000,
  'partition-leader': 6_000,
  'nats-restart': 6_000,
};
const DEFAULT_RECOVERY_MS = 5_000;
/**
 * Events that may overlap the previous one: they do not move leases, so the stall they add is
 * their own and does not compound with a failover.
 */
const LIGHT_KINDS: readonly ChaosEventKind[] = ['redis-restart', 'split', 'merge'];
const OVERLAP_CHANCE = 0.2;

/** Duration and fault probability ranges per kind (ms; share of calls). */
const DURATION_MS: Partial<Record<ChaosEventKind, readonly [number, number]>> = {
  sigstop: [3_000, 8_000],
  'sigstop-leader': [3_000, 8_000],
  'partition-worker': [3_000, 8_000],
  'partition-leader': [3_000, 8_000],
  'nats-restart': [500, 4_000],
  'redis-restart': [2_000, 8_000],
  'dynamodb-delay': [2_000, 6_000],
  'dynamodb-throttle': [2_000, 8_000],
  'kinesis-throttle': [2_000, 8_000],
  'kinesis-expired-iterator': [2_000, 8_000],
};
const PROBABILITY: Partial<Record<ChaosEventKind, readonly [number, number]>> = {
  'dynamodb-delay': [0.5, 1],
  'dynamodb-throttle': [0.5, 1],
  'kinesis-throttle': [0.5, 1],
  'kinesis-expired-iterator': [0.2, 0.6],
};

/**
 * Plans a run from its seed: the fleet size, the initial shard count and the events. Kinds are
 * drawn from a shuffled bag of every kind, refilled when empty, so a run sees as many different
 * kinds as its length allows.
 */
export function planChaos(options: PlanOptions): ChaosPlan {
  const prng = createPrng(options.seed);
  const fleet = prng.fork('fleet');
  const workers = options.workers ?? fleet.int(3, 5);
  const shards = options.shards ?? fleet.int(8, 12);
  const kinds = prng.fork('kinds');
  const timing = prng.fork('timing');
  const params = prng.fork('params');
  let bag: ChaosEventKind[] = [];
  const nextKind = (): ChaosEventKind => {
    if (bag.length === 0) bag = kinds.shuffle(CHAOS_EVENT_KINDS);
    return bag.pop()!;
  };

  const events: ScheduledEvent[] = [];
  const lastAt = options.loadMs - QUIET_TAIL_MS;
  let at = FIRST_EVENT_MS;
  while (at <= lastAt) {
    const kind = nextKind();
    const event = build(kind, at);
    events.push(event);
    const settledAt = at + event.durationMs + (RECOVERY_MS[kind] ?? DEFAULT_RECOVERY_MS);
    at = Math.max(at + timing.int(GAP_MS[0], GAP_MS[1]), settledAt);
    if (timing.chance(OVERLAP_CHANCE)) {
      const overlapAt = event.atMs + timing.int(1_000, Math.max(1_000, event.durationMs));
      if (overlapAt <= lastAt) events.push(build(timing.pick(LIGHT_KINDS), overlapAt));
    }
  }
  events.sort((a, b) => a.atMs - b.atMs);
  return { seed: options.seed, workers, shards, loadMs: options.loadMs, events };

  function build(kind: ChaosEventKind, atMs: number): ScheduledEvent {
    const duration = DURATION_MS[kind];
    const probability = PROBABILITY[kind];
    return {
      atMs,
      kind,
      durationMs: duration ? params.int(duration[0], duration[1]) : 0,
      probability: probability ? Math.round((probability[0] + params.next() * (probability[1] - probability[0])) * 100) / 100 : 1,
      pick: params.next(),
      restartDelayMs: params.int(1_000, 4_000),
    };
  }
}
