import type { Lease, LeaseStore, OwnedLeaseRef } from '@shoal/coordinator';
import type { LeaseHost } from '../../leases/lease-host.js';
import { reconcileLease, type ReconcileContext } from '../../leases/reconcile-hosted-leases.js';

/** Point reads one check makes at most; more suspects wait for the next check. */
const MAX_POINT_READS_PER_CHECK = 100;

export interface OwnLeaseCheckOptions {
  readonly store: LeaseStore;
  readonly namespace: string;
  readonly workerId: string;
  readonly host: LeaseHost;
  /** Whether a worker is registered, active and live (a consistent read where the last full read is old). */
  readonly isLiveWorker: (workerId: string) => Promise<boolean>;
  readonly reconcile: Omit<ReconcileContext, 'isActiveWorker'>;
}

/**
 * What a worker that hears the leader reads of the table: only its own leases. The owner index
 * (eventually consistent, a few bytes per lease) shows which of them changed: one held here
 * that the index no longer lists, one the index lists that nothing here runs, a handoff
 * request. Each is read again with a consistent point read before anything is done about it,
 * so a stale index costs a read, never a wrong action.
 */
export class OwnLeaseCheck {
  constructor(private readonly options: OwnLeaseCheckOptions) {}

  /** Checks this worker's leases; `false` when the table has no owner index (read the namespace instead). */
  async run(): Promise<boolean> {
    const { store, namespace, workerId } = this.options;
    const refs = await store.listOwnedLeases(namespace, workerId);
    if (refs === undefined) return false;
    for (const leaseKey of this.suspects(refs).slice(0, MAX_POINT_READS_PER_CHECK)) {
      const lease = await store.getLease(namespace, leaseKey);
      await this.reconcile(leaseKey, lease);
    }
    // Epochs this worker gave leases up at guard against reads older than the release; those it
    // neither owns nor runs any more are forgotten (a stale read that shows one again costs only
    // a conditional write that conflicts), so they do not pile up over a long life.
    const { host } = this.options;
    host.forgetRelinquishedExcept(new Set([...refs.map((ref) => ref.leaseKey), ...host.hostedLeases().keys()]));
    return true;
  }

  /** Reads one lease (a consistent point read) and acts on it. */
  async checkOne(leaseKey: string): Promise<void> {
    await this.reconcile(leaseKey, await this.options.store.getLease(this.options.namespace, leaseKey));
  }

  /** Leases whose row may say something this worker has not acted on. */
  private suspects(refs: readonly OwnedLeaseRef[]): string[] {
    const { host, workerId } = this.options;
    const hosted = host.hostedLeases();
    const listed = new Map(refs.map((ref) => [ref.leaseKey, ref]));
    const suspects: string[] = [];
    for (const [leaseKey, machine] of hosted) {
      const held = machine.state === 'owned' || machine.state === 'draining';
      const ref = listed.get(leaseKey);
      if (held && (ref === undefined || ref.leaseCounter !== machine.ownership?.leaseCounter)) suspects.push(leaseKey);
      else if (held && ref?.pendingOwner !== undefined && ref.pendingOwner !== workerId) suspects.push(leaseKey);
      else if (machine.state === 'pending' && ref !== undefined) suspects.push(leaseKey);
    }
    for (const ref of refs) {
      if (hosted.has(ref.leaseKey)) continue;
      const relinquished = host.relinquishedEpoch(ref.leaseKey);
      if (relinquished === undefined || ref.leaseCounter > relinquished) suspects.push(ref.leaseKey);
    }
    return suspects;
  }

  private async reconcile(leaseKey: string, lease: Lease | undefined): Promise<void> {
    const requester = lease?.pendingOwner;
    const requesterLive = requester !== undefined && requester !== this.options.workerId && (await this.options.isLiveWorker(requester));
    reconcileLease(leaseKey, lease, { ...this.options.reconcile, isActiveWorker: (id) => id === requester && requesterLive });
  }
}
