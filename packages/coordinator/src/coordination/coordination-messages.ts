import { z } from 'zod';

/**
 * Everything Shoal workers say to each other over the coordination bus. NATS carries events,
 * never truth: every message only prompts a worker to act sooner on what the lease table says,
 * so a lost, repeated or reordered message costs time, never correctness. Messages that make a
 * worker act on the sender's word (plans, drain commands, liveness grants) carry a `mac`: the
 * sender's signature under the key its worker record holds (see `message-auth.ts`); the others
 * are only prompts to read the table.
 */

const workerId = z.string().min(1).max(256);
const leaseKey = z.string().min(1).max(256);
const term = z.number().int().positive();
const mac = z.string().min(1).max(128);

const epoch = z.number().int().nonnegative();

/** One move of a plan; `leaseCounter` is the epoch the leader saw, so a move applies only to that ownership period. */
const leaseMove = z.object({
  leaseKey,
  from: workerId.optional(),
  to: workerId,
  kind: z.enum(['take', 'handoff']),
  leaseCounter: epoch,
});

export const fleetEventSchema = z.discriminatedUnion('type', [
  /** A worker registered and will take its share. */
  z.object({ type: z.literal('worker-joined'), workerId }),
  /** A worker is shutting down and hands its leases over. */
  z.object({ type: z.literal('worker-leaving'), workerId }),
  /** The leader deleted a worker's record after its liveness grants ran out: its leases are free. */
  z.object({ type: z.literal('worker-revoked'), workerId, leaderId: workerId }),
  /** A lease left its owner: transferred to `to`, or released to anyone when `to` is absent. */
  z.object({
    type: z.literal('lease-released'),
    leaseKey,
    from: workerId,
    to: workerId.optional(),
    leaseCounter: z.number().int().nonnegative(),
  }),
  /**
   * The leader's assignment: each worker acts on the moves addressed to it. Signed by the leader.
   * Sent on each worker's own plan subject with its moves only (see `CoordinationBus.publishPlan`).
   */
  z.object({
    type: z.literal('plan'),
    leaderId: workerId,
    term,
    moves: z.array(leaseMove).max(100_000),
    mac,
  }),
  z.object({ type: z.literal('leader-changed'), leaderId: workerId, term }),
  /** The leader stepped down and left the row vacant: `successor` may claim it at once. */
  z.object({ type: z.literal('leader-resigned'), leaderId: workerId, term, successor: workerId.optional() }),
  /**
   * A worker wrote itself as the lease's `pendingOwner`: a prompt for the owner (`from`) to read
   * the lease and hand it over, sooner than its own periodic check would.
   */
  z.object({ type: z.literal('handoff-requested'), leaseKey, from: workerId, to: workerId }),
  /**
   * An operator moved the lease's checkpoint and took the lease from `owner` in the same write
   * (epoch `leaseCounter`): a prompt for the owner to read the lease and stop, and for the
   * leader to plan it again. Unsigned: the lease row alone decides.
   */
  z.object({ type: z.literal('checkpoint-reset'), leaseKey, owner: workerId.optional(), leaseCounter: epoch }),
  /** A shard was read to its end and checkpointed at SHARD_END: its children may start. */
  z.object({ type: z.literal('shard-ended'), leaseKey, shardId: leaseKey, from: workerId }),
]);

export type FleetEvent = z.infer<typeof fleetEventSchema>;
/** A plan: the leader's moves for one worker. */
export type PlanMessage = Extract<FleetEvent, { type: 'plan' }>;
export type FleetEventType = FleetEvent['type'];

/** A command sent by request/reply to one worker. */
export const workerCommandSchema = z.discriminatedUnion('type', [
  /**
   * Drain the lease (finish the batch in hand, let the processor checkpoint) and transfer it to
   * `to`. Sent by the leader of `term`, signed by it, for the ownership period `leaseCounter`
   * only, so a replay after the lease moved on (and even back) changes nothing.
   */
  z.object({
    type: z.literal('drain-lease'),
    leaseKey,
    to: workerId,
    requestedBy: workerId,
    term,
    leaseCounter: epoch,
    mac,
  }),
]);

export type WorkerCommand = z.infer<typeof workerCommandSchema>;

export const commandReplySchema = z.object({
  accepted: z.boolean(),
  /** Why a command was refused, for logs. */
  reason: z.string().max(1_000).optional(),
});

export type CommandReply = z.infer<typeof commandReplySchema>;

/**
 * A worker asks the leader to confirm it alive. `seq` grows with every request of the worker's
 * process, so a replayed request is refused; signed with the worker's key.
 */
export const livenessRequestSchema = z.object({ workerId, seq: z.number().int().nonnegative(), mac });

export type LivenessRequest = z.infer<typeof livenessRequestSchema>;

/**
 * The leader's answer. `validForMs` counts from when the worker sent its request, and never
 * reaches past the leader's own term, so every grant has run out before a next leader may act.
 */
export const livenessReplySchema = z.discriminatedUnion('granted', [
  z.object({
    granted: z.literal(true),
    leaderId: workerId,
    term,
    validForMs: z.number().int().nonnegative(),
    /** The request answered: a grant counts only for the request it names. */
    seq: z.number().int().nonnegative(),
    /** The leadership row's heartbeat as the leader last renewed it: the worker follows the election by it. */
    leaderHeartbeat: z.number().int().nonnegative().optional(),
    /** The worker's record says `leaving` (an operator drained it): it must stay drained, even through a new registration. */
    leaving: z.literal(true).optional(),
    /** Signed with the requesting worker's key, which only the table and that worker know. */
    mac,
  }),
  z.object({ granted: z.literal(false), leaderId: workerId, reason: z.enum(['revoked', 'not-leader']) }),
]);

export type LivenessReply = z.infer<typeof livenessReplySchema>;
