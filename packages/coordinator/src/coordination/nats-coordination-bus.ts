import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { z } from 'zod';
import type { Logger } from '../logger.js';
import type { NatsLink } from '../nats/connect-nats.js';
import type { CoordinationBus, Unsubscribe } from './coordination-bus.js';
import { MessageDropLog } from './message-drop-log.js';
import {
  commandReplySchema,
  fleetEventSchema,
  livenessReplySchema,
  livenessRequestSchema,
  workerCommandSchema,
  type CommandReply,
  type FleetEvent,
  type LivenessReply,
  type LivenessRequest,
  type PlanMessage,
  type WorkerCommand,
} from './coordination-messages.js';

export interface NatsCoordinationBusOptions {
  readonly link: NatsLink;
  readonly application: string;
  /** The stream of a fleet that consumes one stream; omitted for a fleet that consumes several. */
  readonly streamName?: string;
  readonly logger: Logger;
}

/** The subject token of a fleet that consumes several streams; `subjectToken` never yields it. */
const ALL_STREAMS_TOKEN = '~all';

/**
 * Subjects of one fleet: `shoal.<application>.fleet.<stream>` (`~all` for a fleet consuming
 * several streams), so two fleets of one application on different streams never hear each
 * other. Names are escaped so a dot or wildcard in a name stays one token.
 */
export function coordinationSubjects(application: string, streamName?: string) {
  const scope = streamName === undefined ? ALL_STREAMS_TOKEN : subjectToken(streamName);
  const root = `shoal.${subjectToken(application)}.fleet.${scope}`;
  return {
    events: `${root}.events.>`,
    event: (type: FleetEvent['type']) => `${root}.events.${type}`,
    command: (workerId: string) => `${root}.cmd.${subjectToken(workerId)}`,
    plan: (workerId: string) => `${root}.plan.${subjectToken(workerId)}`,
    liveness: `${root}.liveness`,
  };
}

/**
 * Keeps `[A-Za-z0-9_-]`; every other character becomes `~` and its code point in six hex digits,
 * so no two names share a token.
 */
export function subjectToken(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/gu, (char) => `~${char.codePointAt(0)!.toString(16).padStart(6, '0')}`);
}

/** Larger than any event a worker publishes (plans go out in parts of at most about 200 KiB). */
const MAX_EVENT_BYTES = 512 * 1024;

interface WantedSubscription {
  readonly subject: string;
  readonly onMessage: (msg: Msg) => void;
  active: Subscription | undefined;
}

/**
 * {@link CoordinationBus} on NATS core, under the fleet's subject root (see
 * {@link coordinationSubjects}): events on `<root>.events.<type>`, each worker's plans on
 * `<root>.plan.<worker>`, commands by request/reply on `<root>.cmd.<worker>`, liveness requests
 * on `<root>.liveness` (only the leader listens). Messages are JSON checked with zod; a malformed
 * one is logged and ignored. Subscriptions are made again on every fresh connection of the link.
 */
export class NatsCoordinationBus implements CoordinationBus {
  readonly application: string;
  readonly streamName: string | undefined;
  private readonly link: NatsLink;
  private readonly logger: Logger;
  private readonly subjects: ReturnType<typeof coordinationSubjects>;
  private readonly wanted = new Set<WantedSubscription>();
  readonly drops: MessageDropLog;
  private readonly stopListening: () => void;
  private closed = false;

  constructor(options: NatsCoordinationBusOptions) {
    this.application = options.application;
    this.streamName = options.streamName;
    this.link = options.link;
    this.logger = options.logger.child({ component: 'coordination-bus' });
    this.drops = new MessageDropLog(this.logger);
    this.subjects = coordinationSubjects(options.application, options.streamName);
    this.stopListening = this.link.onConnection((connection) => {
      for (const subscription of this.wanted) this.attach(connection, subscription);
    });
  }

  isConnected(): boolean {
    return !this.closed && this.link.connection() !== undefined;
  }

  publish(event: FleetEvent): void {
    this.send(this.subjects.event(event.type), event);
  }

  onEvent(handler: (event: FleetEvent) => void): Unsubscribe {
    return this.subscribe(this.subjects.events, (msg) => {
      const event = this.parseEvent(msg);
      if (event) this.safely(() => handler(event), 'fleet event handler');
    });
  }

  publishPlan(to: string, plan: PlanMessage): void {
    this.send(this.subjects.plan(to), plan);
  }

  onPlans(workerId: string, handler: (plan: PlanMessage) => void): Unsubscribe {
    return this.subscribe(this.subjects.plan(workerId), (msg) => {
      const event = this.parseEvent(msg);
      if (event === undefined) return;
      if (event.type !== 'plan') {
        this.drops.drop('plan', `a ${event.type} event on a plan subject`, { subject: msg.subject });
        return;
      }
      this.safely(() => handler(event), 'plan handler');
    });
  }

  serveCommands(workerId: string, handler: (command: WorkerCommand) => Promise<CommandReply> | CommandReply): Unsubscribe {
    return this.subscribe(this.subjects.command(workerId), (msg) => {
      const command = this.parse(msg, workerCommandSchema, 'worker command');
      if (!command) return;
      void Promise.resolve()
        .then(() => handler(command))
        .catch((error: unknown): CommandReply => {
          this.logger.warn({ err: error, command: command.type }, 'command handler failed');
          return { accepted: false, reason: 'handler failed' };
        })
        .then((reply) => this.respond(msg, reply));
    });
  }

  async sendCommand(workerId: string, command: WorkerCommand, timeoutMs: number): Promise<CommandReply | undefined> {
    return this.request(this.subjects.command(workerId), command, timeoutMs, commandReplySchema, 'command reply');
  }

  serveLiveness(handler: (request: LivenessRequest) => LivenessReply | undefined): Unsubscribe {
    return this.subscribe(this.subjects.liveness, (msg) => {
      const request = this.parse(msg, livenessRequestSchema, 'liveness request');
      if (!request) return;
      const reply = handler(request);
      if (reply) this.respond(msg, reply);
    });
  }

  /**
   * Anyone on the subject may answer, so every answer within `timeoutMs` is looked at until one
   * passes `accept` (a forged answer that arrives first neither wins nor blocks the real one).
   */
  async requestLiveness(
    request: LivenessRequest,
    timeoutMs: number,
    accept: (reply: LivenessReply) => boolean = () => true,
  ): Promise<LivenessReply | undefined> {
    const connection = this.connection();
    if (!connection) return undefined;
    try {
      const replies = await connection.requestMany(this.subjects.liveness, JSON.stringify(request), {
        strategy: 'timer',
        maxWait: timeoutMs,
      });
      for await (const msg of replies) {
        const reply = this.parse(msg, livenessReplySchema, 'liveness reply');
        if (!reply) continue;
        if (accept(reply)) return reply;
        this.drops.drop('liveness reply', 'liveness reply not signed for this request', { subject: msg.subject });
      }
    } catch (error) {
      // No responder or the connection went away: silence. Too big is a defect: logged as one.
      this.reportTooBig(error, 'liveness request', this.subjects.liveness);
    }
    return undefined;
  }

  /** Counts and logs (at most once per interval) a message this worker would not act on. */
  reject(kind: string, reason: string, details: Record<string, unknown> = {}): void {
    this.drops.drop(kind, reason, details);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopListening();
    for (const subscription of this.wanted) subscription.active?.unsubscribe();
    this.wanted.clear();
  }

  /** Fire and forget: an event or plan the server refused is logged, and the fleet falls back on the table. */
  private send(subject: string, message: FleetEvent): void {
    const connection = this.connection();
    if (!connection) return;
    try {
      connection.publish(subject, JSON.stringify(message));
    } catch (error) {
      if (!this.reportTooBig(error, `${message.type} event`, subject)) {
        this.logger.error({ err: error, event: message.type, subject }, 'could not publish a fleet event');
      }
    }
  }

  /** A fleet event within the size any real one has (parsing a forged giant would cost every worker). */
  private parseEvent(msg: Msg): FleetEvent | undefined {
    if (msg.data.length > MAX_EVENT_BYTES) {
      this.drops.drop('fleet event', 'fleet event too big', { subject: msg.subject, bytes: msg.data.length });
      return undefined;
    }
    return this.parse(msg, fleetEventSchema, 'fleet event');
  }

  /** A reply to a requester; lost quietly when the connection closed meanwhile (the requester times out). */
  private respond(msg: Msg, reply: unknown): void {
    try {
      msg.respond(JSON.stringify(reply));
    } catch (error) {
      if (!this.reportTooBig(error, 'reply', msg.subject))
        this.logger.debug({ err: error, subject: msg.subject }, 'could not send a reply');
    }
  }

  private subscribe(subject: string, onMessage: (msg: Msg) => void): Unsubscribe {
    const wanted: WantedSubscription = { subject, onMessage, active: undefined };
    this.wanted.add(wanted);
    const connection = this.connection();
    if (connection) this.attach(connection, wanted);
    return () => {
      this.wanted.delete(wanted);
      wanted.active?.unsubscribe();
      wanted.active = undefined;
    };
  }

  private attach(connection: NatsConnection, wanted: WantedSubscription): void {
    try {
      wanted.active = connection.subscribe(wanted.subject, {
        callback: (error, msg) => {
          if (error) this.logger.warn({ err: error, subject: wanted.subject }, 'subscription error');
          else wanted.onMessage(msg);
        },
      });
    } catch (error) {
      this.logger.warn({ err: error, subject: wanted.subject }, 'could not subscribe');
    }
  }

  private async request<T>(subject: string, body: unknown, timeoutMs: number, schema: z.ZodType<T>, what: string): Promise<T | undefined> {
    const connection = this.connection();
    if (!connection) return undefined;
    try {
      const reply = await connection.request(subject, JSON.stringify(body), { timeout: timeoutMs });
      return this.parse(reply, schema, what);
    } catch (error) {
      // No responder or no answer in time: the caller treats both as silence.
      this.reportTooBig(error, what.replace(/ reply$/, ''), subject);
      return undefined;
    }
  }

  /**
   * A message larger than the server's `max_payload` was not sent. Shoal keeps every message
   * far below any server's limit, so this is logged as the error it is; true when it was that.
   */
  private reportTooBig(error: unknown, what: string, subject: string): boolean {
    if (!(error instanceof Error) || !/max_payload/i.test(error.message)) return false;
    this.logger.error({ err: error, subject }, `could not send a ${what}: larger than the NATS server's max_payload`);
    return true;
  }

  private parse<T>(msg: Msg, schema: z.ZodType<T>, what: string): T | undefined {
    let body: unknown;
    try {
      body = JSON.parse(msg.string());
    } catch {
      this.drops.drop(what, `malformed ${what}: not JSON`, { subject: msg.subject, bytes: msg.data.length });
      return undefined;
    }
    const parsed = schema.safeParse(body);
    if (parsed.success) return parsed.data;
    const problems = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || 'message'}: ${issue.message}`);
    this.drops.drop(what, `malformed ${what}`, { subject: msg.subject, problems });
    return undefined;
  }

  private safely(run: () => void, what: string): void {
    try {
      run();
    } catch (error) {
      this.logger.warn({ err: error }, `${what} threw`);
    }
  }

  private connection(): NatsConnection | undefined {
    return this.closed ? undefined : this.link.connection();
  }
}
