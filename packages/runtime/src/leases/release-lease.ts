import type { LeaseStore } from '@shoal/coordinator';
import type { ReleaseInput, ReleaseOutcome } from '../machines/lease-machine.js';

/**
 * Gives the lease up after a drain: to the drain's target, else to the worker the row names as
 * pending owner, if that worker is (still) a registered, active, live worker; otherwise to
 * nobody, dropping a gone requester's request, so the lease never waits a lease duration for a
 * worker that will not take it. A release to nobody is refused while a request is pending, so a
 * request that lands meanwhile is honoured on the next attempt instead of being wiped. Says who
 * got the lease when it was transferred, and whom a transfer was attempted to (its outcome may be
 * unknown when the write timed out).
 */
export async function releaseLease(
  store: LeaseStore,
  { ownership, handoffTo }: ReleaseInput,
  isLiveWorker: (workerId: string) => Promise<boolean>,
  onTransferAttempt: (to: string) => void = () => {},
): Promise<{ outcome: ReleaseOutcome; to: string | undefined }> {
  let target = handoffTo;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    let goneRequester: string | undefined;
    if (target === undefined) {
      const current = await store.getLease(ownership.namespace, ownership.leaseKey);
      if (current?.leaseOwner !== ownership.leaseOwner || current.leaseCounter !== ownership.leaseCounter) return LOST;
      target = current.pendingOwner;
      goneRequester = target;
    }
    if (target !== undefined && target !== ownership.leaseOwner && (await isLiveWorker(target))) {
      onTransferAttempt(target);
      if ((await store.transferLease(ownership, target)).status === 'applied') return { outcome: 'transferred', to: target };
    } else {
      const drop = goneRequester !== undefined && goneRequester !== ownership.leaseOwner ? { dropPendingOwner: goneRequester } : {};
      if ((await store.releaseLease(ownership, drop)).status === 'applied') return { outcome: 'released', to: undefined };
    }
    target = undefined;
  }
  return LOST;
}

const LOST = { outcome: 'lost', to: undefined } as const;
