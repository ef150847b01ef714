import { setMaxListeners } from 'node:events';
import type { LeaseOwnership } from '@shoal/coordinator';
import { LeaseLostError, type HeldLease } from '@shoal/processor-sdk';
import type { LivenessView } from './liveness-view.js';

/** The lease as one processor call sees it; `close()` once the call settled. */
export interface LeaseCall {
  readonly lease: HeldLease;
  readonly signal: AbortSignal;
  close(): void;
}

/**
 * This worker's hold on one lease, for one ownership period: valid while the worker's liveness
 * is confirmed and the lease was not given up. Giving it up (`release`) is final; a lapse of
 * liveness is not, since liveness may be confirmed again and the lease kept.
 */
export class LeaseHold {
  private readonly ended = new AbortController();
  private lost = false;

  constructor(
    private readonly ownership: LeaseOwnership,
    private readonly liveness: LivenessView,
  ) {
    // The processor call in flight and each checkpoint write under way listen to it.
    setMaxListeners(0, this.ended.signal);
  }

  /**
   * No more work under this hold: the drain timed out or the consumer is being stopped. Calls
   * in flight are told to stop; the lease itself is still this worker's until it is released,
   * so its checkpoints are still written (fenced as always).
   */
  stop(reason: string): void {
    if (!this.ended.signal.aborted) this.ended.abort(new LeaseLostError(`${this.ownership.leaseKey}: ${reason}`));
  }

  /** The lease belongs to another worker now (or will): stop, and write nothing more for it. */
  lose(reason: string): void {
    this.lost = true;
    this.stop(reason);
  }

  get isLost(): boolean {
    return this.lost;
  }

  /** Work under the hold was stopped (`stop` or `lose`): the drain timed out, the consumer is being stopped. */
  get isStopped(): boolean {
    return this.ended.signal.aborted;
  }

  /** The worker's liveness lapsed: nothing may be processed until it is confirmed again. */
  isFenced(): boolean {
    return this.liveness.isFenced();
  }

  /** Whether side effects may be made under this hold now. */
  isValid(): boolean {
    return !this.ended.signal.aborted && !this.liveness.isFenced();
  }

  /** Why side effects may not be made now (undefined while they may). */
  invalidReason(): string | undefined {
    if (this.lost) return `lease ${this.ownership.leaseKey} is lost`;
    if (this.ended.signal.aborted) return `lease ${this.ownership.leaseKey} is being given up`;
    return this.writeRefusal();
  }

  /** Why a checkpoint may not be written now: the lease is lost, or liveness lapsed. */
  writeRefusal(): string | undefined {
    if (this.lost) return `lease ${this.ownership.leaseKey} is lost`;
    if (this.liveness.isFenced()) return `lease ${this.ownership.leaseKey}: this worker's liveness is unconfirmed and its deadline passed`;
    return undefined;
  }

  /** The lease for one processor call, with a signal that aborts when the hold ends or liveness lapses. */
  openCall(): LeaseCall {
    const controller = new AbortController();
    const sources = [this.ended.signal, this.liveness.signal()];
    const onAbort = (event: Event) => controller.abort((event.target as AbortSignal).reason);
    for (const source of sources) {
      if (source.aborted) controller.abort(source.reason);
      else source.addEventListener('abort', onAbort, { once: true });
    }
    const { leaseKey, leaseOwner, leaseCounter } = this.ownership;
    const lease: HeldLease = {
      leaseKey,
      owner: leaseOwner,
      leaseCounter,
      signal: controller.signal,
      isValid: () => !controller.signal.aborted && this.isValid(),
      throwIfInvalid: () => {
        if (!lease.isValid()) throw new LeaseLostError(this.invalidReason() ?? `lease ${leaseKey}: the call was stopped`);
      },
      remainingMs: () => (lease.isValid() ? this.liveness.remainingMs() : 0),
    };
    return {
      lease,
      signal: controller.signal,
      close: () => {
        for (const source of sources) source.removeEventListener('abort', onAbort);
      },
    };
  }
}
