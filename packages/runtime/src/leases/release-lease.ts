import type { LeaseStore } from '@shoal/coordinator';
import type { ReleaseInput, ReleaseOutcome } from '../machines/lease-machine.js';

/**
 * Gives the lease up after a drain: to the drain's target (chosen by the planner from live
 * workers), else to the worker the row names as pending owner if it is still registered and
 * alive, otherwise to nobody, dropping a dead requester's request so the lease does not wait a
 * lease duration for a worker that will never take it. A release to nobody is refused while a
 * request is pending, so a request that lands meanwhile is honoured on the next attempt instead
 * of being wiped. Says who got the lease when it was transferred.
 */
export async function releaseLease(
  store: LeaseStore,
  { ownership, handoffTo }: ReleaseInput,
  isLiveWorker: (workerId: string) => boolean,
): Promise<{ outcome: ReleaseOutcome; to: string | undefined }> {
  let target = handoffTo;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    let deadRequester: string | undefined;
    if (target === undefined) {
      const current = await store.getLease(ownership.namespace, ownership.leaseKey);
      if (current?.leaseOwner !== ownership.leaseOwner || current.leaseCounter !== ownership.leaseCounter) return LOST;
      const requester = current.pendingOwner;
      if (requester !== undefined && requester !== ownership.leaseOwner && !isLiveWorker(requester)) deadRequester = requester;
      else target = requester;
    }
    if (target !== undefined && target !== ownership.leaseOwner) {
      if ((await store.transferLease(ownership, target)).status === 'applied') return { outcome: 'transferred', to: target };
    } else {
      const released = await store.releaseLease(ownership, deadRequester === undefined ? {} : { dropPendingOwner: deadRequester });
      if (released.status === 'applied') return { outcome: 'released', to: undefined };
    }
    target = undefined;
  }
  return LOST;
}

const LOST = { outcome: 'lost', to: undefined } as const;
