import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  NatsCoordinationBus,
  connectNats,
  coordinationSubjects,
  signed,
  subjectToken,
  verifyMessage,
  type CommandReply,
  type FleetEvent,
  type LivenessReply,
  type LivenessRequest,
  type NatsLink,
  type WorkerCommand,
} from '@shoal/coordinator';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PrivateNatsServer } from './support/private-nats.js';

// Real NATS on loopback; these tests fail (never skip) when it does not answer.
const NATS_SERVER = '127.0.0.1:4222';
const WARN = 40;

interface LogLine {
  level: number;
  msg: string;
  component?: string;
  subject?: string;
  problems?: string[];
}

function capturingLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let requestSeq = 0;
/** A liveness request as a worker sends it (the bus carries it; checking the signature is the leader's job). */
function ask(workerId: string): LivenessRequest {
  requestSeq += 1;
  return signed({ workerId, seq: requestSeq }, `key-of-${workerId}`);
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(10);
  }
}

describe('NatsCoordinationBus (real NATS)', () => {
  /** A plain connection for raw publishes and probes, outside any bus. */
  let raw: NatsConnection;
  let application: string;
  const cleanups: (() => Promise<unknown> | void)[] = [];

  beforeAll(async () => {
    raw = await connect({ servers: NATS_SERVER, timeout: 3_000, maxReconnectAttempts: 0 });
  });

  afterAll(async () => {
    await raw?.drain();
  });

  beforeEach(() => {
    application = `bus-test-${randomUUID().slice(0, 8)}`;
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  interface TestBus {
    readonly bus: NatsCoordinationBus;
    readonly link: NatsLink;
    readonly lines: LogLine[];
    /** Round trip through the server, so subscriptions made so far are in place there. */
    flush(): Promise<void>;
  }

  /** A bus on its own connection, as in its own worker process. */
  async function newBus(app = application, streamName?: string): Promise<TestBus> {
    const { logger, lines } = capturingLogger();
    const link = connectNats({ servers: NATS_SERVER, name: `shoal-test-${app}`, logger, reconnectTimeWaitMs: 200 });
    cleanups.push(() => link.close());
    expect(await link.ready(3_000), `NATS at ${NATS_SERVER} must answer`).toBe(true);
    const bus = new NatsCoordinationBus({ link, application: app, ...(streamName === undefined ? {} : { streamName }), logger });
    cleanups.push(() => bus.close());
    return {
      bus,
      link,
      lines,
      async flush() {
        await link.connection()!.flush();
      },
    };
  }

  function collect(bus: NatsCoordinationBus): FleetEvent[] {
    const events: FleetEvent[] = [];
    cleanups.push(bus.onEvent((event) => events.push(event)));
    return events;
  }

  describe('events', () => {
    it('delivers published events, typed and intact, to every bus of the application (the sender too)', async () => {
      const a = await newBus();
      const b = await newBus();
      const atA = collect(a.bus);
      const atB = collect(b.bus);
      await Promise.all([a.flush(), b.flush()]);
      expect(a.bus.isConnected()).toBe(true);
      expect(a.bus.application).toBe(application);

      const sent: FleetEvent[] = [
        { type: 'worker-joined', workerId: 'worker-a' },
        { type: 'worker-leaving', workerId: 'worker-a' },
        { type: 'worker-revoked', workerId: 'worker-c', leaderId: 'worker-a' },
        { type: 'lease-released', leaseKey: 'shardId-000000000001', from: 'worker-a', to: 'worker-b', leaseCounter: 7 },
        { type: 'lease-released', leaseKey: 'shardId-000000000002', from: 'worker-a', leaseCounter: 0 },
        {
          type: 'plan',
          leaderId: 'worker-a',
          term: 3,
          moves: [
            { leaseKey: 'shardId-000000000001', from: 'worker-a', to: 'worker-b', kind: 'handoff', leaseCounter: 4 },
            { leaseKey: 'shardId-000000000003', to: 'worker-b', kind: 'take', leaseCounter: 0 },
          ],
          mac: 'signature-of-worker-a',
        },
        { type: 'leader-changed', leaderId: 'worker-a', term: 3 },
      ];
      for (const event of sent) a.bus.publish(event);

      await waitFor(() => atB.length >= sent.length && atA.length >= sent.length, 'every event at both buses');
      expect(atB).toEqual(sent);
      expect(atA).toEqual(sent);
      const plan = atB.find((event) => event.type === 'plan');
      // Narrowed by its type: the moves are there to use.
      if (plan?.type !== 'plan') throw new Error('no plan event');
      expect(plan.moves.map((move) => move.kind)).toEqual(['handoff', 'take']);
      // Published on one subject per event type.
      const subjects = coordinationSubjects(application);
      expect(subjects.event('plan')).toBe(`shoal.${application}.fleet.~all.events.plan`);
      expect(subjects.events).toBe(`shoal.${application}.fleet.~all.events.>`);
    });

    it('delivers a plan to the worker it is addressed to alone, and never as an event', async () => {
      const leader = await newBus();
      const b = await newBus();
      const c = await newBus();
      const events = collect(b.bus);
      const plansAtB: FleetEvent[] = [];
      const plansAtC: FleetEvent[] = [];
      cleanups.push(b.bus.onPlans('worker-b', (plan) => plansAtB.push(plan)));
      cleanups.push(c.bus.onPlans('worker-c', (plan) => plansAtC.push(plan)));
      await Promise.all([leader.flush(), b.flush(), c.flush()]);
      const plan = {
        type: 'plan' as const,
        leaderId: 'worker-a',
        term: 3,
        moves: [{ leaseKey: 'shardId-000000000003', to: 'worker-b', kind: 'take' as const, leaseCounter: 0 }],
        mac: 'signature-of-worker-a',
      };
      leader.bus.publishPlan('worker-b', plan);
      // Another event type forged onto a plan subject is dropped there.
      const raw = leader.link.connection()!;
      raw.publish(coordinationSubjects(application).plan('worker-c'), JSON.stringify({ type: 'worker-joined', workerId: 'x' }));
      leader.bus.publish({ type: 'worker-joined', workerId: 'after-the-plan' });
      await waitFor(() => events.length > 0 && plansAtB.length > 0, 'the plan at worker-b and the event after it');
      await waitFor(() => c.bus.drops.dropped > 0, 'the forged plan dropped at worker-c');
      expect(plansAtB).toEqual([plan]);
      expect(plansAtC).toEqual([]);
      expect(events).toEqual([{ type: 'worker-joined', workerId: 'after-the-plan' }]);
      expect(coordinationSubjects(application).plan('worker-b')).toBe(`shoal.${application}.fleet.~all.plan.worker-b`);
    });

    it('logs and ignores malformed events, and goes on delivering the next valid one', async () => {
      const receiver = await newBus();
      const events = collect(receiver.bus);
      await receiver.flush();
      const subjects = coordinationSubjects(application);

      raw.publish(subjects.event('worker-joined'), 'this is { not JSON');
      raw.publish(subjects.event('worker-joined'), JSON.stringify({ type: 'worker-joined' }));
      raw.publish(subjects.event('plan'), JSON.stringify({ type: 'plan', leaderId: 'worker-a', term: 0, moves: [] }));
      raw.publish(
        `shoal.${subjectToken(application)}.fleet.~all.events.mystery`,
        JSON.stringify({ type: 'mystery', workerId: 'worker-a' }),
      );
      raw.publish(subjects.event('worker-joined'), JSON.stringify({ type: 'worker-joined', workerId: 'after-the-junk' }));
      await raw.flush();

      await waitFor(() => events.length >= 1, 'the valid event after the junk');
      await waitFor(() => (receiver.bus as NatsCoordinationBus).drops.dropped >= 4, 'every malformed event counted');
      // Nothing more arrives.
      await sleep(100);
      expect(events).toEqual([{ type: 'worker-joined', workerId: 'after-the-junk' }]);

      // One line per kind of garbage within the interval, however many messages; the rest are counted.
      const warnings = receiver.lines.filter((line) => line.level === WARN);
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toMatchObject({
        msg: 'dropped a message: malformed fleet event: not JSON',
        subject: subjects.event('worker-joined'),
        component: 'coordination-bus',
      });
      expect(warnings[1]!.msg).toBe('dropped a message: malformed fleet event');
      expect(warnings[1]!.problems!.join(' ')).toContain('workerId');
      expect([...(receiver.bus as NatsCoordinationBus).drops.countsByKind()]).toEqual([
        ['fleet event|malformed fleet event: not JSON', 1],
        ['fleet event|malformed fleet event', 3],
      ]);

      // A handler that throws is logged too, and does not stop later deliveries.
      const sender = await newBus();
      let calls = 0;
      cleanups.push(
        receiver.bus.onEvent(() => {
          calls += 1;
          throw new Error('handler bug');
        }),
      );
      await receiver.flush();
      sender.bus.publish({ type: 'worker-joined', workerId: 'one' });
      sender.bus.publish({ type: 'worker-joined', workerId: 'two' });
      await waitFor(() => events.length === 3 && calls === 2, 'both events despite the throwing handler');
      expect(receiver.lines.some((line) => line.level === WARN && line.msg === 'fleet event handler threw')).toBe(true);
    });

    it('stops delivering to an unsubscribed handler and after close', async () => {
      const a = await newBus();
      const b = await newBus();
      const kept = collect(b.bus);
      const dropped: FleetEvent[] = [];
      const unsubscribe = b.bus.onEvent((event) => dropped.push(event));
      await b.flush();
      a.bus.publish({ type: 'worker-joined', workerId: 'first' });
      await waitFor(() => kept.length === 1 && dropped.length === 1, 'the first event at both handlers');

      unsubscribe();
      unsubscribe();
      await b.flush();
      a.bus.publish({ type: 'worker-joined', workerId: 'second' });
      await waitFor(() => kept.length === 2, 'the second event at the kept handler');
      expect(dropped).toHaveLength(1);

      await b.bus.close();
      await b.bus.close();
      expect(b.bus.isConnected()).toBe(false);
      await b.flush();
      a.bus.publish({ type: 'worker-joined', workerId: 'third' });
      await a.flush();
      await sleep(100);
      expect(kept).toHaveLength(2);
      // A closed bus publishes nothing and requests nothing.
      const atA = collect(a.bus);
      await a.flush();
      b.bus.publish({ type: 'worker-joined', workerId: 'from-closed' });
      expect(await b.bus.requestLiveness(ask('x'), 200)).toBeUndefined();
      await sleep(100);
      expect(atA).toEqual([]);
    });
  });

  describe('commands', () => {
    const drain: WorkerCommand = {
      type: 'drain-lease',
      leaseKey: 'shardId-000000000004',
      to: 'worker-b',
      requestedBy: 'leader-1',
      term: 2,
      leaseCounter: 5,
      mac: 'signature-of-leader-1',
    };

    it('sends a drain command to one worker and gets its reply', async () => {
      const leader = await newBus();
      const owner = await newBus();
      const received: WorkerCommand[] = [];
      cleanups.push(
        owner.bus.serveCommands('worker-a', async (command) => {
          received.push(command);
          await sleep(20);
          return { accepted: true };
        }),
      );
      await owner.flush();

      expect(await leader.bus.sendCommand('worker-a', drain, 2_000)).toEqual({ accepted: true });
      expect(received).toEqual([drain]);

      // A refusal and a failing handler come back as replies too.
      cleanups.push(owner.bus.serveCommands('worker-busy', () => ({ accepted: false, reason: 'lease not owned' })));
      cleanups.push(
        owner.bus.serveCommands('worker-broken', () => {
          throw new Error('handler bug');
        }),
      );
      await owner.flush();
      expect(await leader.bus.sendCommand('worker-busy', drain, 2_000)).toEqual({ accepted: false, reason: 'lease not owned' });
      expect(await leader.bus.sendCommand('worker-broken', drain, 2_000)).toEqual({ accepted: false, reason: 'handler failed' });
      expect(owner.lines.some((line) => line.level === WARN && line.msg === 'command handler failed')).toBe(true);
    });

    it('resolves undefined within the timeout when nobody serves the worker', async () => {
      const leader = await newBus();
      const started = performance.now();
      expect(await leader.bus.sendCommand('worker-nobody', drain, 500)).toBeUndefined();
      expect(performance.now() - started).toBeLessThan(2_000);

      // A responder that never answers (say, a hung worker) is also silence after the timeout.
      const hung = raw.subscribe(coordinationSubjects(application).command('worker-hung'), { callback: () => undefined });
      cleanups.push(() => hung.unsubscribe());
      await raw.flush();
      const hungStarted = performance.now();
      expect(await leader.bus.sendCommand('worker-hung', drain, 300)).toBeUndefined();
      const waited = performance.now() - hungStarted;
      expect(waited).toBeGreaterThanOrEqual(250);
      expect(waited).toBeLessThan(2_000);
    });

    it('ignores a malformed command (logged, never handled) and a malformed reply', async () => {
      const owner = await newBus();
      let handled = 0;
      cleanups.push(
        owner.bus.serveCommands('worker-a', () => {
          handled += 1;
          return { accepted: true };
        }),
      );
      await owner.flush();
      const subject = coordinationSubjects(application).command('worker-a');
      await expect(raw.request(subject, 'not json', { timeout: 300 })).rejects.toThrow();
      await expect(raw.request(subject, JSON.stringify({ type: 'drain-lease', leaseKey: 'x' }), { timeout: 300 })).rejects.toThrow();
      expect(handled).toBe(0);
      expect(owner.lines.filter((line) => line.level === WARN).map((line) => line.msg)).toEqual([
        'dropped a message: malformed worker command: not JSON',
        'dropped a message: malformed worker command',
      ]);

      // A reply that fails the schema counts as no reply.
      const leader = await newBus();
      const liar = raw.subscribe(coordinationSubjects(application).command('worker-liar'), {
        callback: (_error, msg) => {
          msg.respond(JSON.stringify({ accepted: 'yes' }));
        },
      });
      cleanups.push(() => liar.unsubscribe());
      await raw.flush();
      expect(await leader.bus.sendCommand('worker-liar', { ...drain, leaseKey: 'x', to: 'y', requestedBy: 'z' }, 1_000)).toBeUndefined();
      expect(leader.lines.some((line) => line.level === WARN && line.msg === 'dropped a message: malformed command reply')).toBe(true);
    });

    it('routes by worker id, dots and wildcards included', async () => {
      const leader = await newBus();
      const owner = await newBus();
      const ids = ['worker', 'worker.1', 'worker.*', 'worker.>', 'worker 1', 'wörker'];
      const handledBy: string[] = [];
      for (const id of ids) {
        cleanups.push(
          owner.bus.serveCommands(id, () => {
            handledBy.push(id);
            return { accepted: true, reason: id } satisfies CommandReply;
          }),
        );
      }
      await owner.flush();
      for (const id of ids) {
        handledBy.length = 0;
        expect(await leader.bus.sendCommand(id, drain, 2_000)).toEqual({ accepted: true, reason: id });
        expect(handledBy).toEqual([id]);
      }
    });
  });

  describe('liveness', () => {
    it('resolves undefined when no leader serves liveness', async () => {
      const worker = await newBus();
      const started = performance.now();
      expect(await worker.bus.requestLiveness(ask('worker-a'), 500)).toBeUndefined();
      expect(performance.now() - started).toBeLessThan(2_000);
    });

    it("returns the leader's grant or refusal, and nothing when the handler has no answer", async () => {
      const leader = await newBus();
      const worker = await newBus();
      const requests: LivenessRequest[] = [];
      cleanups.push(
        leader.bus.serveLiveness((request): LivenessReply | undefined => {
          requests.push(request);
          if (request.workerId === 'worker-revoked') return { granted: false, leaderId: 'leader-1', reason: 'revoked' };
          if (request.workerId === 'worker-ignored') return undefined;
          return { granted: true, leaderId: 'leader-1', term: 4, validForMs: 1_500, seq: request.seq, mac: 'signed-grant' };
        }),
      );
      await leader.flush();

      expect(await worker.bus.requestLiveness(ask('worker-a'), 2_000)).toMatchObject({
        granted: true,
        leaderId: 'leader-1',
        term: 4,
        validForMs: 1_500,
      });
      expect(await worker.bus.requestLiveness(ask('worker-revoked'), 2_000)).toEqual({
        granted: false,
        leaderId: 'leader-1',
        reason: 'revoked',
      });
      const started = performance.now();
      expect(await worker.bus.requestLiveness(ask('worker-ignored'), 300)).toBeUndefined();
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(requests.map((request) => request.workerId)).toEqual(['worker-a', 'worker-revoked', 'worker-ignored']);

      // A malformed request never reaches the handler.
      await expect(
        raw.request(coordinationSubjects(application).liveness, JSON.stringify({ worker: 1 }), { timeout: 300 }),
      ).rejects.toThrow();
      expect(requests).toHaveLength(3);
      expect(leader.lines.some((line) => line.level === WARN && line.msg === 'dropped a message: malformed liveness request')).toBe(true);
    });

    it('looks past answers the worker does not accept: a forger answering first neither wins nor blocks the leader', async () => {
      const worker = await newBus();
      // The forger answers every request at once, with a grant of its own making.
      const forger = raw.subscribe(coordinationSubjects(application).liveness, {
        callback: (_error, msg) => {
          msg.respond(JSON.stringify({ granted: true, leaderId: 'forger', term: 99, validForMs: 60_000, seq: 1, mac: 'forged' }));
        },
      });
      cleanups.push(() => forger.unsubscribe());
      // The leader answers a moment later than the forger.
      const slowLeader = raw.subscribe(coordinationSubjects(application).liveness, {
        callback: (_error, msg) => {
          const request = JSON.parse(msg.string()) as LivenessRequest;
          const reply = { granted: true as const, leaderId: 'leader-1', term: 4, validForMs: 1_500, seq: request.seq };
          setTimeout(() => msg.respond(JSON.stringify(signed(reply, `key-of-${request.workerId}`))), 50);
        },
      });
      cleanups.push(() => slowLeader.unsubscribe());
      await raw.flush();
      const request = ask('worker-a');
      const reply = await worker.bus.requestLiveness(
        request,
        2_000,
        (answer) => answer.granted && verifyMessage(answer, 'key-of-worker-a'),
      );
      expect(reply).toMatchObject({ granted: true, leaderId: 'leader-1', term: 4, seq: request.seq });
      expect(worker.lines.some((line) => line.msg === 'dropped a message: liveness reply not signed for this request')).toBe(true);
    });

    it('logs a flood of garbage at most once per interval per subject, and counts every message', async () => {
      const receiver = await newBus();
      const events = collect(receiver.bus);
      await receiver.flush();
      const subject = coordinationSubjects(application).event('plan');
      for (let i = 0; i < 9_702; i += 1) raw.publish(subject, i % 2 === 0 ? 'garbage' : JSON.stringify({ type: 'plan', junk: i }));
      await raw.flush();
      await waitFor(() => (receiver.bus as NatsCoordinationBus).drops.dropped >= 9_702, 'every garbage message counted');
      expect(events).toEqual([]);
      // Two kinds of garbage on one subject: one line each, not one per message.
      expect(receiver.lines.filter((line) => line.level === WARN)).toHaveLength(2);
    });

    it('stops answering once the leader stops serving', async () => {
      const leader = await newBus();
      const worker = await newBus();
      const stopServing = leader.bus.serveLiveness((request) => ({
        granted: true,
        leaderId: 'leader-1',
        term: 1,
        validForMs: 100,
        seq: request.seq,
        mac: 'm',
      }));
      await leader.flush();
      expect(await worker.bus.requestLiveness(ask('worker-a'), 2_000)).toMatchObject({ granted: true });
      stopServing();
      await leader.flush();
      expect(await worker.bus.requestLiveness(ask('worker-a'), 300)).toBeUndefined();
    });
  });

  describe('isolation between applications', () => {
    it('keeps applications whose names contain dots, wildcards or odd characters apart', async () => {
      const base = application;
      const names = [
        base,
        `${base}.eu`,
        `${base}.*`,
        `${base}.>`,
        `${base}~2eeu`,
        `${base} eu`,
        `${base}/eu`,
        `${base}.eu.events`,
        `${base}ü`,
      ];
      const buses = await Promise.all(names.map((name) => newBus(name)));
      const received = buses.map((bus) => collect(bus.bus));
      const served = buses.map(() => [] as string[]);
      buses.forEach((bus, i) =>
        cleanups.push(
          bus.bus.serveLiveness((request) => {
            served[i]!.push(request.workerId);
            return { granted: true, leaderId: `leader-of-${i}`, term: i + 1, validForMs: 1_000, seq: request.seq, mac: 'm' };
          }),
        ),
      );
      await Promise.all(buses.map((bus) => bus.flush()));

      // Each subject stays within the application's own tokens.
      for (const name of names) {
        const token = subjectToken(name);
        expect(token).toMatch(/^[A-Za-z0-9_~-]+$/);
        expect(coordinationSubjects(name).events).toBe(`shoal.${token}.fleet.~all.events.>`);
      }
      expect(new Set(names.map(subjectToken)).size).toBe(names.length);

      buses.forEach((bus, i) => bus.bus.publish({ type: 'worker-joined', workerId: `worker-of-${i}` }));
      await waitFor(() => received.every((events) => events.length >= 1), 'each application gets its own event');
      await Promise.all(buses.map((bus) => bus.flush()));
      await sleep(100);
      received.forEach((events, i) => expect(events, names[i]).toEqual([{ type: 'worker-joined', workerId: `worker-of-${i}` }]));

      // Liveness requests reach only the application's own leader.
      for (const [i, bus] of buses.entries()) {
        expect(await bus.bus.requestLiveness(ask(`worker-of-${i}`), 2_000)).toMatchObject({ leaderId: `leader-of-${i}` });
      }
      served.forEach((requests, i) => expect(requests, names[i]).toEqual([`worker-of-${i}`]));
    });

    it('keeps apart the fleets of one application on different streams, and its fleet of several streams', async () => {
      const scopes = [undefined, 'orders', 'refunds', 'orders.eu', '~all'];
      const buses = await Promise.all(scopes.map((streamName) => newBus(application, streamName)));
      const received = buses.map((bus) => collect(bus.bus));
      buses.forEach((bus, i) =>
        cleanups.push(
          bus.bus.serveLiveness((request) => ({
            granted: true,
            leaderId: `leader-of-${i}`,
            term: 1,
            validForMs: 1_000,
            seq: request.seq,
            mac: 'm',
          })),
        ),
      );
      await Promise.all(buses.map((bus) => bus.flush()));
      expect(new Set(scopes.map((streamName) => coordinationSubjects(application, streamName).liveness)).size).toBe(scopes.length);

      buses.forEach((bus, i) => bus.bus.publish({ type: 'worker-joined', workerId: `worker-of-${i}` }));
      await waitFor(() => received.every((events) => events.length >= 1), 'each fleet gets its own event');
      await Promise.all(buses.map((bus) => bus.flush()));
      await sleep(100);
      received.forEach((events, i) => expect(events, String(scopes[i])).toEqual([{ type: 'worker-joined', workerId: `worker-of-${i}` }]));
      for (const [i, bus] of buses.entries()) {
        expect(await bus.bus.requestLiveness(ask(`worker-of-${i}`), 2_000)).toMatchObject({ leaderId: `leader-of-${i}` });
      }
    });

    // Escapes have a fixed width, so '.' then a hex digit and a code point that starts alike stay apart.
    it('keeps apart names whose escapes run into a following hex digit', async () => {
      const base = application;
      const dotted = `${base}.5`;
      const accented = `${base}\u02e5`;
      expect(subjectToken(dotted), 'distinct names give distinct subject tokens').not.toBe(subjectToken(accented));

      const a = await newBus(dotted);
      const b = await newBus(accented);
      const atB = collect(b.bus);
      await b.flush();
      a.bus.publish({ type: 'worker-joined', workerId: 'worker-of-dotted' });
      await a.flush();
      await sleep(200);
      expect(atB, `an event of "${dotted}" reached the bus of "${accented}"`).toEqual([]);
    });
  });
});

describe('NatsCoordinationBus and a server with a small max_payload', () => {
  it('logs a message too big for the server as an error naming the limit, and goes on sending the ones that fit', async () => {
    const server = await PrivateNatsServer.start({ maxPayload: 4_096 });
    const { logger, lines } = capturingLogger();
    const link = connectNats({ servers: server.url.replace('nats://', ''), name: 'shoal-test-small-payload', logger });
    try {
      expect(await link.ready(3_000)).toBe(true);
      const bus = new NatsCoordinationBus({ link, application: 'small-payload', logger });
      const received: FleetEvent[] = [];
      bus.onEvent((event) => received.push(event));
      await link.connection()!.flush();
      const moves = Array.from({ length: 100 }, (_, i) => ({
        leaseKey: `shardId-${String(i).padStart(12, '0')}`,
        to: 'worker-b',
        kind: 'take' as const,
        leaseCounter: 0,
      }));
      bus.publish(signed({ type: 'plan' as const, leaderId: 'worker-a', term: 1, moves }, 'key'));
      bus.publish({ type: 'worker-joined', workerId: 'worker-c' });
      await waitFor(() => received.length > 0, 'the small event');
      expect(received).toEqual([{ type: 'worker-joined', workerId: 'worker-c' }]);
      const errors = lines.filter((line) => line.level >= 50);
      expect(errors.map((line) => line.msg)).toEqual(["could not send a plan event: larger than the NATS server's max_payload"]);
      await bus.close();
    } finally {
      await link.close();
      await server.stop();
    }
  });
});
