/**
 * The worker machine: the root of a worker's actor system. It hosts one lease machine per
 * lease the worker touches (spawned with the system id `lease:<leaseKey>`) and, while active,
 * the lease coordinator (heartbeats, lease and shard sync) as an invoked callback actor.
 *
 * ```
 * starting ──▶ active.running ──SHUTDOWN──▶ active.draining ──no leases left / timeout──▶ stopping ──▶ stopped
 *     ╰──startup failed──▶ failed
 * ```
 *
 * Draining sends DRAIN to every lease machine and keeps the coordinator running, so the
 * worker goes on heartbeating (and stays un-fenced) while its leases finish and hand off.
 */
import type { Lease } from '@shoal/coordinator';
import { assign, enqueueActions, fromCallback, fromPromise, sendTo, setup, type ActorRefFrom } from 'xstate';
import {
  leaseMachine,
  type LeaseActorRef,
  type LeaseMachineEvent,
  type LeaseMachineInput,
  type LeaseMachineMode,
} from './lease-machine.js';

export interface WorkerMachineInput {
  readonly workerId: string;
  readonly drainTimeoutMs: number;
  readonly handoffWaitMs: number;
  readonly abortGraceMs: number;
  /** How long shutdown waits for every lease to drain before the worker stops anyway. */
  readonly shutdownTimeoutMs: number;
}

export interface WorkerMachineContext extends WorkerMachineInput {
  readonly leases: Readonly<Record<string, LeaseActorRef>>;
  /** Epoch at which this worker gave each lease up itself, so a stale read does not re-adopt it. */
  readonly relinquished: Readonly<Record<string, number>>;
  /** SHUTDOWN arrived while starting: stop as soon as start-up is done. */
  readonly shutdownRequested: boolean;
  readonly error: unknown;
}

export type WorkerMachineEvent =
  | { readonly type: 'LEASE.START'; readonly lease: Lease; readonly mode: LeaseMachineMode }
  | { readonly type: 'LEASE.FORWARD'; readonly leaseKey: string; readonly event: LeaseMachineEvent }
  | { readonly type: 'WORKER.FENCED' }
  /** The lease table has only these leases: relinquished epochs of any other are forgotten. */
  | { readonly type: 'LEASES.FORGET_RELINQUISHED'; readonly keep: ReadonlySet<string> }
  | { readonly type: 'SHUTDOWN' };

/** Sent to the coordinator actor when the worker starts draining. */
export type CoordinatorCommand = { readonly type: 'DRAINING' };

export const LEASE_ACTOR_PREFIX = 'lease:';

export const workerMachine = setup({
  types: {
    input: {} as WorkerMachineInput,
    context: {} as WorkerMachineContext,
    events: {} as WorkerMachineEvent,
  },
  actors: {
    startup: fromPromise<void>(async () => {
      throw new Error('worker machine actor "startup" must be provided');
    }),
    cleanup: fromPromise<void>(async () => {}),
    coordinator: fromCallback<CoordinatorCommand>(() => {
      throw new Error('worker machine actor "coordinator" must be provided');
    }),
    leaseMachine,
  },
  delays: {
    shutdownTimeout: ({ context }) => context.shutdownTimeoutMs,
  },
  guards: {
    noLeases: ({ context }) => Object.keys(context.leases).length === 0,
  },
  actions: {
    drainAllLeases: enqueueActions(({ context, enqueue }) => {
      for (const ref of Object.values(context.leases)) enqueue.sendTo(ref, { type: 'DRAIN', reason: 'worker-shutdown' });
    }),
    forgetFinishedLease: enqueueActions(({ context, event, enqueue }) => {
      const leaseKey = finishedLeaseKey((event as { type: string }).type);
      const ref = leaseKey === undefined ? undefined : hostedRef(context, leaseKey);
      if (leaseKey === undefined || !ref) return;
      // A finished child stays in the actor's children until stopped.
      enqueue.stopChild(ref);
      enqueue.assign(forgetFinishedLease(context, leaseKey, ref));
    }),
    fenceAllLeases: enqueueActions(({ context, enqueue }) => {
      for (const ref of Object.values(context.leases)) {
        enqueue.sendTo(ref, { type: 'LEASE.LOST', reason: 'worker liveness unconfirmed (self-fenced)' });
      }
    }),
  },
}).createMachine({
  id: 'worker',
  context: ({ input }) => ({ ...input, leases: {}, relinquished: {}, shutdownRequested: false, error: undefined }),
  initial: 'starting',
  on: {
    'LEASE.FORWARD': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const ref = hostedRef(context, event.leaseKey);
        if (ref) enqueue.sendTo(ref, event.event);
      }),
    },
    'LEASES.FORGET_RELINQUISHED': {
      guard: ({ context, event }) => Object.keys(context.relinquished).some((leaseKey) => !event.keep.has(leaseKey)),
      actions: assign({
        relinquished: ({ context, event }) =>
          Object.fromEntries(Object.entries(context.relinquished).filter(([leaseKey]) => event.keep.has(leaseKey))),
      }),
    },
    // A lease machine reached `ended` or `stolen` (or failed): it no longer belongs to the worker.
    'xstate.done.actor.*': { actions: 'forgetFinishedLease' },
    'xstate.error.actor.*': { actions: 'forgetFinishedLease' },
  },
  states: {
    starting: {
      on: { SHUTDOWN: { actions: assign({ shutdownRequested: true }) } },
      invoke: {
        src: 'startup',
        onDone: [{ guard: ({ context }) => context.shutdownRequested, target: 'stopping' }, { target: 'active' }],
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    active: {
      invoke: { id: 'coordinator', src: 'coordinator' },
      initial: 'running',
      on: {
        'WORKER.FENCED': { actions: 'fenceAllLeases' },
      },
      states: {
        running: {
          on: {
            'LEASE.START': {
              guard: ({ context, event }) => hostedRef(context, event.lease.leaseKey) === undefined,
              actions: assign({
                leases: ({ context, event, spawn }) => ({
                  ...context.leases,
                  [event.lease.leaseKey]: spawn('leaseMachine', {
                    id: `${LEASE_ACTOR_PREFIX}${event.lease.leaseKey}`,
                    input: {
                      lease: event.lease,
                      mode: event.mode,
                      workerId: context.workerId,
                      drainTimeoutMs: context.drainTimeoutMs,
                      handoffWaitMs: context.handoffWaitMs,
                      abortGraceMs: context.abortGraceMs,
                    } satisfies LeaseMachineInput,
                  }),
                }),
              }),
            },
            SHUTDOWN: 'draining',
          },
        },
        draining: {
          entry: [sendTo('coordinator', { type: 'DRAINING' }), 'drainAllLeases'],
          always: { guard: 'noLeases', target: '#worker.stopping' },
          after: { shutdownTimeout: '#worker.stopping' },
        },
      },
    },
    stopping: {
      invoke: { src: 'cleanup', onDone: 'stopped', onError: 'stopped' },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type WorkerMachine = typeof workerMachine;

const RELINQUISHED = new Set(['handed-off', 'released', 'shard-end']);

/** The lease key of a lease machine's done or error event; undefined for other actors. */
function finishedLeaseKey(eventType: string): string | undefined {
  const actorId = eventType.replace(/^xstate\.(done|error)\.actor\./, '');
  return actorId.startsWith(LEASE_ACTOR_PREFIX) ? actorId.slice(LEASE_ACTOR_PREFIX.length) : undefined;
}

function forgetFinishedLease(context: WorkerMachineContext, leaseKey: string, ref: LeaseActorRef): Partial<WorkerMachineContext> {
  const { [leaseKey]: _finished, ...leases } = context.leases;
  const { endReason, ownership } = ref.getSnapshot().context;
  const relinquished =
    ownership && endReason && RELINQUISHED.has(endReason)
      ? { ...context.relinquished, [leaseKey]: ownership.leaseCounter }
      : context.relinquished;
  return { leases, relinquished };
}
export type WorkerActorRef = ActorRefFrom<WorkerMachine>;

/** The lease machine hosted under `leaseKey`; a key from a message (`constructor`, say) never finds the prototype's members. */
export function hostedRef(context: Pick<WorkerMachineContext, 'leases'>, leaseKey: string): LeaseActorRef | undefined {
  return Object.hasOwn(context.leases, leaseKey) ? context.leases[leaseKey] : undefined;
}
