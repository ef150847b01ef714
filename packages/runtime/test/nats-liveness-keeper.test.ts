import {
  signed,
  type CoordinationBus,
  type LeaseStore,
  type LivenessReply,
  type LivenessRequest,
  type NamespaceSnapshot,
  type WorkerRecord,
} from '@shoal/coordinator';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../src/clock.js';
import { NatsLivenessKeeper } from '../src/fleet/liveness/nats-liveness-keeper.js';
import { WorkerLiveness } from '../src/fleet/liveness/worker-liveness.js';

const INTERVAL_MS = 40;
const VALID_FOR_MS = 300;
const TABLE_SELF_FENCE_MS = 60_000;
const WORKER_KEY = 'worker-a-key';

/** A worker's record whose liveness switch the test can hold: applied at once, answered when released. */
class SlowAnsweringStore {
  record: WorkerRecord = {
    namespace: 'app/stream',
    workerId: 'worker-a',
    heartbeat: 1,
    status: 'active',
    liveness: 'table',
    grantTerm: undefined,
    startedAt: 0,
    host: undefined,
  };
  switches = 0;
  private answer: (() => void) | undefined;
  holdAnswers = true;

  async switchWorkerLiveness(_namespace: string, _workerId: string, to: 'nats' | 'table', grantTerm?: number) {
    this.switches += 1;
    // DynamoDB applies the write ...
    this.record = { ...this.record, liveness: to, grantTerm: to === 'nats' ? grantTerm : undefined };
    // ... and its answer is lost on the way back until the test lets it through.
    if (this.holdAnswers) await new Promise<void>((resolve) => (this.answer = resolve));
    return { status: 'applied' as const, value: this.record };
  }

  async readNamespace(): Promise<NamespaceSnapshot> {
    return { leases: [], workers: [this.record], leadership: undefined };
  }

  repoints: { from: number; to: number }[] = [];

  async repointWorkerGrants(_namespace: string, _workerId: string, from: number, to: number) {
    this.repoints.push({ from, to });
    if (this.record.liveness !== 'nats' || this.record.grantTerm !== from) return { status: 'conflict' as const };
    this.record = { ...this.record, grantTerm: to };
    return { status: 'applied' as const, value: this.record };
  }

  async heartbeatWorker() {
    return { status: 'applied' as const, value: this.record };
  }

  releaseAnswer(): void {
    this.holdAnswers = false;
    this.answer?.();
  }
}

/** A leader on the bus that grants until told to stop answering. */
class GrantingBus {
  requests = 0;
  answering = true;
  term = 4;

  /** Answers as the leader does: a grant for the request, signed with the worker's key (from the table). */
  async requestLiveness(
    request: LivenessRequest,
    _timeoutMs: number,
    accept: (reply: LivenessReply) => boolean,
  ): Promise<LivenessReply | undefined> {
    this.requests += 1;
    if (!this.answering) return undefined;
    const reply = signed(
      { granted: true as const, leaderId: 'leader', term: this.term, validForMs: VALID_FOR_MS, seq: request.seq },
      WORKER_KEY,
    );
    return accept(reply) ? reply : undefined;
  }
}

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

function startKeeper() {
  const store = new SlowAnsweringStore();
  const bus = new GrantingBus();
  const liveness = new WorkerLiveness(TABLE_SELF_FENCE_MS, systemClock);
  const keeper = new NatsLivenessKeeper({
    bus: bus as unknown as CoordinationBus,
    store: store as unknown as LeaseStore,
    namespace: 'app/stream',
    workerId: 'worker-a',
    fleetKey: WORKER_KEY,
    liveness,
    intervalMs: INTERVAL_MS,
    grantValidForMs: VALID_FOR_MS,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    onRevoked: async () => {},
  });
  const controller = new AbortController();
  const running = keeper.run(controller.signal);
  stops.push(async () => {
    store.releaseAnswer();
    controller.abort();
    await running;
  });
  return { store, bus, liveness };
}

describe('NatsLivenessKeeper: the switch to nats', () => {
  it('holds to the grants from before the write goes out, so an applied but unanswered switch cannot outlive them', async () => {
    const { store, bus, liveness } = startKeeper();
    await vi.waitFor(() => expect(store.switches).toBe(1), { timeout: 2_000 });
    // The record already says `nats` and a leader would revoke after its failover time; the
    // worker must not live on the 60 s table rule meanwhile.
    expect(store.record.liveness).toBe('nats');
    expect(liveness.mode).toBe('uncertain');
    const requestsAtSwitch = bus.requests;
    await new Promise((resolve) => setTimeout(resolve, 4 * INTERVAL_MS));
    // Grants are still asked for while the answer is outstanding.
    expect(bus.requests).toBeGreaterThanOrEqual(requestsAtSwitch + 3);
    expect(liveness.isFenced()).toBe(false);

    // Once grants stop, it stops within a grant's validity, long before its table deadline.
    bus.answering = false;
    await vi.waitFor(() => expect(liveness.isFenced()).toBe(true), { timeout: 2_000, interval: 5 });
    expect(liveness.tableLivenessExpired()).toBe(false);
  });

  it('takes nats mode once the answer arrives, and keeps living on grants', async () => {
    const { store, liveness } = startKeeper();
    await vi.waitFor(() => expect(store.switches).toBe(1), { timeout: 2_000 });
    store.releaseAnswer();
    await vi.waitFor(() => expect(liveness.mode).toBe('nats'), { timeout: 2_000 });
    expect(liveness.isFenced()).toBe(false);
  });
});

describe('NatsLivenessKeeper: a new leader', () => {
  it('follows a new leader’s grants by pointing its record at the new term, without ever pausing', async () => {
    const { store, bus, liveness } = startKeeper();
    store.releaseAnswer();
    await vi.waitFor(() => expect(liveness.mode).toBe('nats'), { timeout: 2_000 });
    let fenced = false;
    const watch = setInterval(() => (fenced ||= liveness.isFenced()), 2);
    try {
      bus.term = 5; // the old leader stepped down; its successor answers from now on
      await vi.waitFor(() => expect(liveness.grantTerm).toBe(5), { timeout: 2_000 });
      expect(store.record).toMatchObject({ liveness: 'nats', grantTerm: 5 });
      expect(store.repoints).toEqual([{ from: 4, to: 5 }]);
      await new Promise((resolve) => setTimeout(resolve, 2 * VALID_FOR_MS));
    } finally {
      clearInterval(watch);
    }
    expect(fenced).toBe(false);
    expect(store.switches).toBe(1); // only the first switch to nats: no fall back to table heartbeats
  });
});
