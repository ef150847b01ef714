import type { LeaseStore } from '@shoal/coordinator';
import type { ReleaseInput, ReleaseOutcome } from '../machines/lease-machine.js';

/**
 * Gives the lease up after a drain: to the worker that asked for it (the hint from the drain,
 * else whatever pending owner the row holds), otherwise to nobody. A release to nobody is
 * refused while a request is pending, so a request that lands meanwhile is honoured on the
 * next attempt instead of being wiped. Says who got the lease when it was transferred.
 */
export async function releaseLease(
  store: LeaseStore,
  { ownership, handoffTo }: ReleaseInput,
): Promise<{ outcome: ReleaseOutcome; to: string | undefined }> {
  let target = handoffTo;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    if (target === undefined) {
      const current = await store.getLease(ownership.namespace, ownership.leaseKey);
      if (current?.leaseOwner !== ownership.leaseOwner || current.leaseCounter !== ownership.leaseCounter) return LOST;
      target = current.pendingOwner;
    }
    if (target !== undefined && target !== ownership.leaseOwner) {
      if ((await store.transferLease(ownership, target)).status === 'applied') return { outcome: 'transferred', to: target };
    } else if ((await store.releaseLease(ownership)).status === 'applied') {
      return { outcome: 'released', to: undefined };
    }
    target = undefined;
  }
  return LOST;
}

const LOST = { outcome: 'lost', to: undefined } as const;
