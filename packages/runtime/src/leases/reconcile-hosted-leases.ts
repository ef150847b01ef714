import type { Lease, NamespaceSnapshot } from '@shoal/coordinator';
import type { LeaseHost } from './lease-host.js';

export interface ReconcileContext {
  readonly host: LeaseHost;
  readonly workerId: string;
  /** False while draining, fenced or recovering: leases found owned here are not started. */
  readonly mayAdopt: () => boolean;
  readonly isActiveWorker: (workerId: string) => boolean;
  /** A planned handoff to this worker is on its way: its announcement will start the lease. */
  readonly expectsHandoff: (leaseKey: string, leaseCounter: number) => boolean;
  /** Whether the application consumes the lease's stream now: a lease of another is released, never started. */
  readonly consumes: (lease: Lease) => boolean;
  /** The table says this worker owns a lease of a stream it does not consume, and nothing here runs it: give it up. */
  readonly releaseUnconsumed: (lease: Lease) => void;
}

/**
 * Tells each lease machine this worker hosts what the table says about its lease: lost (moved
 * on or deleted), asked for by another active worker, or handed over while it waited; and starts
 * a machine for a lease the table says this worker owns but nothing here runs. A lease this
 * worker holds that the snapshot lacks goes to `confirmMissing` when given (an eventually
 * consistent read may not show a lease acquired a moment ago), else it is taken as deleted.
 */
export function reconcileHostedLeases(
  snapshot: NamespaceSnapshot,
  context: ReconcileContext & { readonly confirmMissing?: (leaseKey: string) => void },
): void {
  const byKey = new Map(snapshot.leases.map((lease) => [lease.leaseKey, lease]));
  for (const [leaseKey, machine] of context.host.hostedLeases()) {
    if (byKey.has(leaseKey)) continue;
    const held = machine.state === 'owned' || machine.state === 'draining';
    if (held && context.confirmMissing) context.confirmMissing(leaseKey);
    else reconcileLease(leaseKey, undefined, context);
  }
  for (const lease of snapshot.leases) reconcileLease(lease.leaseKey, lease, context);
}

/**
 * The same for one lease, as a read of it shows it (`undefined`: the table has no such lease),
 * for a worker that reads only the leases it has reason to.
 */
export function reconcileLease(
  leaseKey: string,
  lease: Lease | undefined,
  { host, workerId, mayAdopt, isActiveWorker, expectsHandoff, consumes, releaseUnconsumed }: ReconcileContext,
): void {
  const machine = host.hostedLease(leaseKey);
  const ownership = machine?.ownership;
  if (machine && ownership && (machine.state === 'owned' || machine.state === 'draining')) {
    if (!lease) {
      host.sendToLease(leaseKey, { type: 'LEASE.LOST', reason: 'lease deleted from the lease table' });
    } else if (
      lease.leaseCounter > ownership.leaseCounter ||
      (lease.leaseCounter === ownership.leaseCounter && lease.leaseOwner !== workerId)
    ) {
      host.sendToLease(leaseKey, {
        type: 'LEASE.LOST',
        reason: `lease now held by ${lease.leaseOwner ?? 'nobody'} (epoch ${lease.leaseCounter})`,
      });
    } else if (
      machine.state === 'owned' &&
      lease.leaseCounter === ownership.leaseCounter &&
      lease.pendingOwner !== undefined &&
      lease.pendingOwner !== workerId &&
      isActiveWorker(lease.pendingOwner)
    ) {
      host.sendToLease(leaseKey, { type: 'DRAIN', reason: 'handoff', handoffTo: lease.pendingOwner });
    } else if (machine.state === 'owned' && !consumes(lease)) {
      host.sendToLease(leaseKey, { type: 'DRAIN', reason: 'stream-removed' });
    }
    return;
  }
  if (!lease) return;
  if (lease.leaseOwner !== workerId) {
    // Waiting for a handoff whose request is gone (released, taken, or another asked later).
    if (machine?.state === 'pending' && lease.pendingOwner !== workerId) {
      host.sendToLease(leaseKey, { type: 'LEASE.HANDOFF_DECLINED', lease });
    }
    return;
  }
  if (machine?.state === 'pending') {
    // A fenced or recovering worker starts nothing; the lease stays with the machine's wait.
    if (mayAdopt()) host.sendToLease(leaseKey, { type: 'LEASE.ACQUIRED', lease });
  } else if (!machine && lease.checkpoint.type !== 'SHARD_END' && !consumes(lease)) {
    // Handed here by a leader whose stream list differs (a rolling deploy), or left from before
    // the stream was dropped: nobody else may take it while this worker holds it.
    releaseUnconsumed(lease);
  } else if (!machine && mayAdopt() && lease.checkpoint.type !== 'SHARD_END') {
    const relinquished = host.relinquishedEpoch(leaseKey);
    // A read older than our own release still shows us as the owner: only adopt newer epochs,
    // and through a conditional write that starts a new epoch, so a stale read cannot win.
    if ((relinquished === undefined || lease.leaseCounter > relinquished) && !expectsHandoff(leaseKey, lease.leaseCounter)) {
      host.startLease(lease, 'acquire');
    }
  }
}
