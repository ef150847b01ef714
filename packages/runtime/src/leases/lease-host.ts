import type { Lease, LeaseOwnership } from '@shoal/coordinator';
import type { LeaseMachineEvent, LeaseMachineMode } from '../machines/lease-machine.js';

/** What the fleet needs to know about one lease machine the worker hosts. */
export interface HostedLease {
  /** Top-level machine state: `pending`, `owned`, `draining`, ... */
  readonly state: string;
  readonly ownership: LeaseOwnership | undefined;
  /** The lease's stream, when the lease names one (an application consuming several streams). */
  readonly streamName?: string;
}

/** The worker as the fleet sees it: its lease machines and how to reach them. */
export interface LeaseHost {
  /** Every lease machine this worker hosts (built on each call: for a pass over all of them). */
  hostedLeases(): ReadonlyMap<string, HostedLease>;
  /** One hosted lease machine, if any. */
  hostedLease(leaseKey: string): HostedLease | undefined;
  /** The epoch at which this worker last gave the lease up itself (released, handed off, finished). */
  relinquishedEpoch(leaseKey: string): number | undefined;
  /** Forgets the relinquished epochs of leases the table no longer has (finished and deleted). */
  forgetRelinquishedExcept(leaseKeys: ReadonlySet<string>): void;
  startLease(lease: Lease, mode: LeaseMachineMode): void;
  /** Resolves once the lease's machine is no longer `pending` (acquired, or gave up), or after `timeoutMs`. */
  untilSettled?(leaseKey: string, timeoutMs: number): Promise<void>;
  sendToLease(leaseKey: string, event: LeaseMachineEvent): void;
  /** The worker could not prove it is alive in time: every lease must stop now. */
  fenced(): void;
}
