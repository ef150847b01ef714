/**
 * The lease machine: one per shard lease a worker touches.
 *
 * ```
 * pending ──acquired──▶ owned ──DRAIN──▶ draining ──consumer stopped──▶ releasing ──▶ ended(handed-off | released)
 *    │                    │                  ╰──drain timed out──▶ aborting ──stopped / abortGrace──╯
 *    │                    │ ╲──consumer reached SHARD_END──────────────────────────────▶ ended(shard-end)
 *    │                    ╰──LEASE.LOST / fenced checkpoint──▶ losing ──▶ stolen
 *    ╰── acquisition failed / handoff not granted ──▶ ended(not-acquired | handoff-timeout)
 * ```
 *
 * | state                      | on                           | goes to                      |
 * |----------------------------|------------------------------|------------------------------|
 * | pending.acquiring          | acquireLease applied         | owned                        |
 * | pending.acquiring          | conflict or error            | ended (not-acquired)         |
 * | pending.requestingHandoff  | requestHandoff applied       | pending.awaitingHandoff      |
 * | pending.awaitingHandoff    | LEASE.HANDOFF_DECLINED (newer epoch, or another requester) | ended (not-acquired) |
 * | pending.awaitingHandoff    | handoffWait elapsed          | ended (handoff-timeout)      |
 * | pending.awaitingHandoff    | LEASE.TAKE (owner gone)      | pending.acquiring            |
 * | pending (any)              | LEASE.ACQUIRED (newer epoch, this owner) | owned            |
 * | pending                    | DRAIN                        | ended (cancelled)            |
 * | pending                    | LEASE.LOST (fenced)          | ended (cancelled)            |
 * | owned.initializing         | CONSUMER.PROCESSING          | owned.processing             |
 * | owned.processing           | CONSUMER.BACKOFF             | owned.backoff                |
 * | owned.backoff              | CONSUMER.PROCESSING          | owned.processing             |
 * | owned                      | DRAIN                        | draining                     |
 * | owned, draining            | LEASE.LOST                   | losing                       |
 * | owned, draining            | CONSUMER.STOPPED shard-end   | ended (shard-end)            |
 * | owned, draining            | CONSUMER.STOPPED lease-lost  | stolen                       |
 * | owned, draining            | CONSUMER.STOPPED requested   | releasing                    |
 * | draining                   | drainTimeout elapsed         | aborting (consumer told to abort, logged) |
 * | aborting                   | CONSUMER.STOPPED             | releasing                    |
 * | aborting                   | abortGrace elapsed           | releasing (processor overran, logged) |
 * | aborting                   | LEASE.LOST                   | losing                       |
 * | losing                     | CONSUMER.STOPPED or timeout  | stolen                       |
 * | releasing                  | released / transferred       | ended (released / handed-off)|
 * | releasing                  | conflict                     | stolen                       |
 *
 * The shard consumer runs as a spawned child (`consumer`) from `owned` until the machine
 * stops, so draining and losing can wait for it to finish the batch in hand and call the
 * processor's last callback. A drain that times out does not release the lease at once: the
 * batch in flight is told to stop (its signal aborts) and gets `abortGraceMs` to do so, so the
 * next owner never starts beside it. Every actor is referenced by name: the worker provides the real
 * implementations, tests provide fakes.
 */
import type { ConditionalWriteResult, Lease, LeaseOwnership } from '@shoal/coordinator';
import type { Checkpoint, ShutdownRequestReason } from '@shoal/processor-sdk';
import { assign, fromCallback, fromPromise, sendTo, setup, spawnChild, stopChild, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import type { ShardConsumerEvent, ShardConsumerExit } from '../consumer/shard-consumer.js';

export type LeaseMachineMode = 'acquire' | 'request-handoff' | 'adopt';

export interface LeaseMachineInput {
  readonly lease: Lease;
  readonly workerId: string;
  readonly mode: LeaseMachineMode;
  readonly drainTimeoutMs: number;
  readonly handoffWaitMs: number;
  readonly abortGraceMs: number;
}

export type LeaseEndReason = 'handed-off' | 'released' | 'shard-end' | 'not-acquired' | 'handoff-timeout' | 'cancelled' | 'release-failed';

export interface LeaseMachineContext {
  readonly workerId: string;
  readonly mode: LeaseMachineMode;
  readonly lease: Lease;
  readonly ownership: LeaseOwnership | undefined;
  readonly checkpoint: Checkpoint;
  readonly drainReason: ShutdownRequestReason | undefined;
  /** Who gets the lease when the drain completes; released to anyone when undefined. */
  readonly handoffTo: string | undefined;
  readonly endReason: LeaseEndReason | undefined;
  readonly lostReason: string | undefined;
  readonly drainTimeoutMs: number;
  readonly handoffWaitMs: number;
  readonly abortGraceMs: number;
}

/** What the consumer actor reports back, including how it stopped. */
export type ConsumerReport = ShardConsumerEvent | { readonly type: 'CONSUMER.STOPPED'; readonly exit: ShardConsumerExit };

/** What the lease machine tells its consumer. */
export type ConsumerCommand =
  | {
      readonly type: 'SHUTDOWN';
      readonly exit: 'requested' | 'lease-lost';
      readonly reason?: ShutdownRequestReason;
    }
  /** Stop without further processor calls; the call in progress is told to stop through its signal. */
  | { readonly type: 'ABORT' };

export type LeaseMachineEvent =
  | { readonly type: 'LEASE.ACQUIRED'; readonly lease: Lease }
  | { readonly type: 'DRAIN'; readonly reason: ShutdownRequestReason; readonly handoffTo?: string }
  | { readonly type: 'LEASE.LOST'; readonly reason: string }
  /** The handoff this machine waits for will not come (the owner released it, died, or chose another), as `lease` shows. */
  | { readonly type: 'LEASE.HANDOFF_DECLINED'; readonly lease: Lease }
  /** The owner this machine waits on is gone: take the lease as `lease` shows it (conditional on that owner and epoch). */
  | { readonly type: 'LEASE.TAKE'; readonly lease: Lease }
  | ConsumerReport;

export interface ConsumerInput {
  readonly lease: Lease;
  readonly ownership: LeaseOwnership;
}

export interface ReleaseInput {
  readonly ownership: LeaseOwnership;
  readonly handoffTo: string | undefined;
}

/** `transferred`: handed to the pending owner; `released`: anyone may take it; `lost`: not ours anymore. */
export type ReleaseOutcome = 'transferred' | 'released' | 'lost';

const notProvided = (name: string) => () => {
  throw new Error(`lease machine actor "${name}" must be provided by the worker`);
};

export const leaseMachine = setup({
  types: {
    input: {} as LeaseMachineInput,
    context: {} as LeaseMachineContext,
    events: {} as LeaseMachineEvent,
  },
  actors: {
    acquireLease: fromPromise<ConditionalWriteResult<Lease>, { lease: Lease; workerId: string }>(notProvided('acquireLease')),
    requestHandoff: fromPromise<ConditionalWriteResult<Lease>, { lease: Lease; workerId: string }>(notProvided('requestHandoff')),
    releaseLease: fromPromise<ReleaseOutcome, ReleaseInput>(notProvided('releaseLease')),
    shardConsumer: fromCallback<ConsumerCommand, ConsumerInput>(notProvided('shardConsumer')),
  },
  delays: {
    drainTimeout: ({ context }) => context.drainTimeoutMs,
    handoffWait: ({ context }) => context.handoffWaitMs,
    abortGrace: ({ context }) => context.abortGraceMs,
  },
  guards: {
    isAdopting: ({ context }) => context.mode === 'adopt',
    isRequestingHandoff: ({ context }) => context.mode === 'request-handoff',
    stoppedAtShardEnd: ({ event }) => event.type === 'CONSUMER.STOPPED' && event.exit === 'shard-end',
    stoppedLeaseLost: ({ event }) => event.type === 'CONSUMER.STOPPED' && event.exit === 'lease-lost',
    /** A read of the lease newer than the one this machine holds, naming this worker as owner. */
    handedOverHere: ({ context, event }) =>
      event.type === 'LEASE.ACQUIRED' &&
      event.lease.leaseOwner === context.workerId &&
      event.lease.leaseCounter > context.lease.leaseCounter,
    /**
     * The handoff will not come: the lease changed hands (a newer epoch), or another worker asked
     * later. The same epoch without a pending owner is a read from before this request landed,
     * since nothing clears a request without changing the epoch.
     */
    handoffDeclined: ({ context, event }) =>
      event.type === 'LEASE.HANDOFF_DECLINED' &&
      (event.lease.leaseCounter > context.lease.leaseCounter ||
        (event.lease.leaseCounter === context.lease.leaseCounter &&
          event.lease.pendingOwner !== undefined &&
          event.lease.pendingOwner !== context.workerId)),
  },
  actions: {
    spawnConsumer: spawnChild('shardConsumer', {
      id: 'consumer',
      input: ({ context }) => ({ lease: context.lease, ownership: context.ownership! }),
    }),
    stopConsumer: stopChild('consumer'),
    /** The worker provides a logger-backed version; the drain gave up on the processor's checkpoint. */
    warnDrainTimeout: () => {},
    /** The worker provides a logger-backed version; the processor ignored its abort signal. */
    reportAbortOverrun: () => {},
    abortConsumer: sendTo('consumer', { type: 'ABORT' as const }),
    requestConsumerShutdown: sendTo('consumer', ({ context }) => ({
      type: 'SHUTDOWN' as const,
      exit: 'requested' as const,
      reason: context.drainReason ?? 'worker-shutdown',
    })),
    tellConsumerLeaseLost: sendTo('consumer', { type: 'SHUTDOWN' as const, exit: 'lease-lost' as const }),
    recordDrain: assign(({ context, event }) =>
      event.type === 'DRAIN' ? { drainReason: event.reason, handoffTo: event.handoffTo ?? context.handoffTo } : {},
    ),
    recordLost: assign(({ event }) => ({
      lostReason: event.type === 'LEASE.LOST' ? event.reason : 'checkpoint refused or liveness unconfirmed',
    })),
    recordCheckpoint: assign(({ event }) => (event.type === 'CONSUMER.CHECKPOINTED' ? { checkpoint: event.checkpoint } : {})),
    adoptOwnership: assign(({ context }) => ({ ownership: ownershipOf(context.lease, context.workerId) })),
  },
}).createMachine({
  id: 'lease',
  context: ({ input }) => ({
    workerId: input.workerId,
    mode: input.mode,
    lease: input.lease,
    ownership: undefined,
    checkpoint: input.lease.checkpoint,
    drainReason: undefined,
    handoffTo: undefined,
    endReason: undefined,
    lostReason: undefined,
    drainTimeoutMs: input.drainTimeoutMs,
    handoffWaitMs: input.handoffWaitMs,
    abortGraceMs: input.abortGraceMs,
  }),
  initial: 'pending',
  on: {
    'CONSUMER.CHECKPOINTED': { actions: 'recordCheckpoint' },
  },
  states: {
    pending: {
      initial: 'choosing',
      on: {
        DRAIN: { target: 'ended', actions: assign({ endReason: 'cancelled' }) },
        // The worker fenced itself: an acquire still in flight must not start a consumer when it
        // lands (the write may apply all the same; a later sync adopts the lease at a new epoch).
        'LEASE.LOST': { target: 'ended', actions: assign({ endReason: 'cancelled' }) },
        // Handed over here, whatever this machine was doing to get the lease: its own request
        // or acquire, made on an older epoch, can only fail now.
        'LEASE.ACQUIRED': {
          guard: 'handedOverHere',
          target: 'owned',
          actions: assign(({ context, event }) => acquired(context, { status: 'applied', value: event.lease })),
        },
      },
      states: {
        choosing: {
          always: [
            { guard: 'isAdopting', target: '#lease.owned', actions: 'adoptOwnership' },
            { guard: 'isRequestingHandoff', target: 'requestingHandoff' },
            { target: 'acquiring' },
          ],
        },
        acquiring: {
          invoke: {
            src: 'acquireLease',
            input: ({ context }) => ({ lease: context.lease, workerId: context.workerId }),
            onDone: [
              {
                guard: ({ event }) => event.output.status === 'applied',
                target: '#lease.owned',
                actions: assign(({ context, event }) => acquired(context, event.output)),
              },
              { target: '#lease.ended', actions: assign({ endReason: 'not-acquired' }) },
            ],
            onError: { target: '#lease.ended', actions: assign({ endReason: 'not-acquired' }) },
          },
        },
        requestingHandoff: {
          invoke: {
            src: 'requestHandoff',
            input: ({ context }) => ({ lease: context.lease, workerId: context.workerId }),
            onDone: [
              {
                guard: ({ event }) => event.output.status === 'applied',
                target: 'awaitingHandoff',
                actions: assign(({ event }) => (event.output.status === 'applied' ? { lease: event.output.value } : {})),
              },
              { target: '#lease.ended', actions: assign({ endReason: 'not-acquired' }) },
            ],
            onError: { target: '#lease.ended', actions: assign({ endReason: 'not-acquired' }) },
          },
        },
        awaitingHandoff: {
          on: {
            'LEASE.HANDOFF_DECLINED': { guard: 'handoffDeclined', target: '#lease.ended', actions: assign({ endReason: 'not-acquired' }) },
            // The owner died or was revoked while this worker waited for it to hand the lease over.
            'LEASE.TAKE': { target: 'acquiring', actions: assign(({ event }) => ({ lease: event.lease })) },
          },
          after: { handoffWait: { target: '#lease.ended', actions: assign({ endReason: 'handoff-timeout' }) } },
        },
      },
    },
    owned: {
      entry: 'spawnConsumer',
      initial: 'initializing',
      on: {
        DRAIN: { target: 'draining', actions: ['recordDrain', 'requestConsumerShutdown'] },
        'LEASE.LOST': { target: 'losing', actions: ['recordLost', 'tellConsumerLeaseLost'] },
        'CONSUMER.STOPPED': [
          { guard: 'stoppedAtShardEnd', target: 'ended', actions: assign({ endReason: 'shard-end' }) },
          { guard: 'stoppedLeaseLost', target: 'stolen', actions: 'recordLost' },
          { target: 'releasing' },
        ],
      },
      states: {
        initializing: { on: { 'CONSUMER.PROCESSING': 'processing' } },
        processing: { on: { 'CONSUMER.BACKOFF': 'backoff' } },
        backoff: { on: { 'CONSUMER.PROCESSING': 'processing' } },
      },
    },
    draining: {
      on: {
        DRAIN: { actions: 'recordDrain' },
        'LEASE.LOST': { target: 'losing', actions: ['recordLost', 'tellConsumerLeaseLost'] },
        'CONSUMER.STOPPED': [
          { guard: 'stoppedAtShardEnd', target: 'ended', actions: assign({ endReason: 'shard-end' }) },
          { guard: 'stoppedLeaseLost', target: 'stolen', actions: 'recordLost' },
          { target: 'releasing' },
        ],
      },
      after: { drainTimeout: { target: 'aborting', actions: ['warnDrainTimeout', 'abortConsumer'] } },
    },
    aborting: {
      on: {
        'LEASE.LOST': { target: 'losing', actions: ['recordLost', 'tellConsumerLeaseLost'] },
        'CONSUMER.STOPPED': [{ guard: 'stoppedLeaseLost', target: 'stolen', actions: 'recordLost' }, { target: 'releasing' }],
      },
      after: { abortGrace: { target: 'releasing', actions: ['reportAbortOverrun', 'stopConsumer'] } },
    },
    losing: {
      on: { 'CONSUMER.STOPPED': 'stolen' },
      after: { drainTimeout: { target: 'stolen', actions: 'stopConsumer' } },
    },
    releasing: {
      invoke: {
        src: 'releaseLease',
        input: ({ context }) => ({ ownership: context.ownership!, handoffTo: context.handoffTo }),
        onDone: [
          {
            guard: ({ event }) => event.output === 'lost',
            target: 'stolen',
            actions: assign({ lostReason: 'lease changed hands before it was released' }),
          },
          {
            target: 'ended',
            actions: assign(({ event }) => ({ endReason: event.output === 'transferred' ? 'handed-off' : 'released' }) as const),
          },
        ],
        onError: { target: 'ended', actions: assign({ endReason: 'release-failed' }) },
      },
    },
    stolen: { type: 'final' },
    ended: { type: 'final' },
  },
});

export type LeaseMachine = typeof leaseMachine;
export type LeaseActorRef = ActorRefFrom<LeaseMachine>;
export type LeaseMachineSnapshot = SnapshotFrom<LeaseMachine>;

function acquired(context: LeaseMachineContext, result: ConditionalWriteResult<Lease>): Partial<LeaseMachineContext> {
  if (result.status !== 'applied') return {};
  return { lease: result.value, ownership: ownershipOf(result.value, context.workerId), checkpoint: result.value.checkpoint };
}

function ownershipOf(lease: Lease, workerId: string): LeaseOwnership {
  return { namespace: lease.namespace, leaseKey: lease.leaseKey, leaseOwner: workerId, leaseCounter: lease.leaseCounter };
}

/** The machine's state as one dotted string: `owned.processing`, `draining`, `ended`... */
export function leaseStateName(snapshot: LeaseMachineSnapshot): string {
  const value = snapshot.value;
  if (typeof value === 'string') return value;
  const [parent, child] = Object.entries(value)[0] ?? ['unknown', undefined];
  return typeof child === 'string' ? `${parent}.${child}` : parent;
}
