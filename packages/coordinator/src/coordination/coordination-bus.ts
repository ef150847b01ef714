import type { CommandReply, FleetEvent, LivenessReply, LivenessRequest, PlanMessage, WorkerCommand } from './coordination-messages.js';

/** Stops a subscription or a service. Idempotent. */
export type Unsubscribe = () => void;

/**
 * The event and command channel of one fleet: an application on one stream, or an application
 * consuming several streams. Every method copes with the
 * transport being down: publishing drops the message, requests resolve `undefined`, and
 * subscriptions resume when the transport comes back.
 */
export interface CoordinationBus {
  readonly application: string;
  /** The fleet's stream; undefined for a fleet consuming several streams. */
  readonly streamName: string | undefined;
  /** True while messages can flow. */
  isConnected(): boolean;
  /** Fire and forget. */
  publish(event: FleetEvent): void;
  /** Every well-formed event of the application, including this worker's own. */
  onEvent(handler: (event: FleetEvent) => void): Unsubscribe;

  /**
   * Sends `to` its moves of the leader's plan, on that worker's own subject: a plan over every
   * lease of a cold start reaches each worker as its share, not as the whole plan.
   */
  publishPlan(to: string, plan: PlanMessage): void;
  /** Plans addressed to `workerId`. */
  onPlans(workerId: string, handler: (plan: PlanMessage) => void): Unsubscribe;

  /** Answers commands sent to `workerId`. */
  serveCommands(workerId: string, handler: (command: WorkerCommand) => Promise<CommandReply> | CommandReply): Unsubscribe;
  /** `undefined` when nobody answered in time. */
  sendCommand(workerId: string, command: WorkerCommand, timeoutMs: number): Promise<CommandReply | undefined>;

  /** The leader answers liveness requests. */
  serveLiveness(handler: (request: LivenessRequest) => LivenessReply | undefined): Unsubscribe;
  /** The first answer within `timeoutMs` that `accept` takes; `undefined` when none did. */
  requestLiveness(
    request: LivenessRequest,
    timeoutMs: number,
    accept?: (reply: LivenessReply) => boolean,
  ): Promise<LivenessReply | undefined>;

  /** Counts and logs (rate-limited) a well-formed message the receiver would not act on: unsigned, stale, or not confirmed by the table. */
  reject(kind: string, reason: string, details?: Record<string, unknown>): void;

  close(): Promise<void>;
}
