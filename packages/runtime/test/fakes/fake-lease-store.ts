import type { ConditionalWriteResult, Lease, LeaseOwnership, LeaseStore, NamespaceSnapshot } from '@shoal/coordinator';
import type { Checkpoint } from '@shoal/processor-sdk';
import { asStored } from './records.js';

/**
 * A lease table holding one lease in memory. Only `checkpoint` behaves like the real store:
 * conditional on the owner and counter. `moveToAnotherOwner()` makes every later checkpoint
 * from the previous owner a conflict, as when another worker took the lease.
 */
export class InMemoryLeaseStore implements LeaseStore {
  /** Every checkpoint that was written, in order, as the table keeps it (see {@link asStored}). */
  readonly written: Checkpoint[] = [];
  /** Every checkpoint write that was attempted, applied or not. */
  attempts = 0;
  /** Called with each checkpoint just before it is stored, to check invariants at that moment. */
  beforeWrite: (checkpoint: Checkpoint) => void = () => {};

  constructor(public lease: Lease) {}

  moveToAnotherOwner(newOwner = 'worker-thief'): void {
    this.lease = { ...this.lease, leaseOwner: newOwner, leaseCounter: this.lease.leaseCounter + 1 };
  }

  async checkpoint(ownership: LeaseOwnership, written: Checkpoint): Promise<ConditionalWriteResult<Lease>> {
    this.attempts += 1;
    const checkpoint = asStored(written);
    if (ownership.leaseOwner !== this.lease.leaseOwner || ownership.leaseCounter !== this.lease.leaseCounter) {
      return { status: 'conflict' };
    }
    this.beforeWrite(checkpoint);
    this.written.push(checkpoint);
    this.lease = { ...this.lease, checkpoint, checkpointedAt: 0 };
    return { status: 'applied', value: this.lease };
  }

  resetCheckpoint(): Promise<never> {
    return notUsed('resetCheckpoint');
  }
  ensureTable(): Promise<void> {
    return notUsed('ensureTable');
  }
  readNamespace(): Promise<NamespaceSnapshot> {
    return notUsed('readNamespace');
  }
  listOwnedLeases(): Promise<never> {
    return notUsed('listOwnedLeases');
  }
  getLeadership(): Promise<never> {
    return notUsed('getLeadership');
  }
  repointWorkerGrants(): Promise<never> {
    return notUsed('repointWorkerGrants');
  }
  getWorker(): Promise<never> {
    return notUsed('getWorker');
  }
  getLease(): Promise<Lease | undefined> {
    return notUsed('getLease');
  }
  createLease(): Promise<ConditionalWriteResult<Lease>> {
    return notUsed('createLease');
  }
  acquireLease(): Promise<ConditionalWriteResult<Lease>> {
    return notUsed('acquireLease');
  }
  requestHandoff(): Promise<ConditionalWriteResult<Lease>> {
    return notUsed('requestHandoff');
  }
  transferLease(): Promise<ConditionalWriteResult<Lease>> {
    return notUsed('transferLease');
  }
  releaseLease(): Promise<ConditionalWriteResult<Lease>> {
    return notUsed('releaseLease');
  }
  deleteFinishedLease(): Promise<ConditionalWriteResult<void>> {
    return notUsed('deleteFinishedLease');
  }
  registerWorker(): Promise<never> {
    return notUsed('registerWorker');
  }
  heartbeatWorker(): Promise<never> {
    return notUsed('heartbeatWorker');
  }
  markWorkerLeaving(): Promise<never> {
    return notUsed('markWorkerLeaving');
  }
  setWorkerStreams(): Promise<never> {
    return notUsed('setWorkerStreams');
  }
  deregisterWorker(): Promise<void> {
    return notUsed('deregisterWorker');
  }
  removeDeadWorker(): Promise<ConditionalWriteResult<void>> {
    return notUsed('removeDeadWorker');
  }
  switchWorkerLiveness(): Promise<never> {
    return notUsed('switchWorkerLiveness');
  }
  revokeWorker(): Promise<never> {
    return notUsed('revokeWorker');
  }
  claimLeadership(): Promise<never> {
    return notUsed('claimLeadership');
  }
  renewLeadership(): Promise<never> {
    return notUsed('renewLeadership');
  }
  resignLeadership(): Promise<never> {
    return notUsed('resignLeadership');
  }
}

function notUsed(name: string): Promise<never> {
  return Promise.reject(new Error(`InMemoryLeaseStore.${name} is not faked`));
}
