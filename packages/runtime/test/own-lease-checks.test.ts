import type { WorkerRecord } from '@shoal/coordinator';
import { describe, expect, it } from 'vitest';
import { workerRecord } from './fakes/fleet.js';
import { testLease } from './fakes/records.js';
import { LaggingTable, fleetSync, handClock, trackingHost, type SyncPlace } from './fakes/lagging-table.js';

/**
 * A worker that hears the leader reads only its own leases, through an eventually consistent
 * owner index, every 30 s: what it must not miss all the same.
 */
const X = 'shardId-000000000007';
const NS = 'app/stream';
const lease = (owner: string | undefined, leaseCounter: number) =>
  testLease({ namespace: NS, shardId: X, leaseOwner: owner, leaseCounter });

describe('a check asked for "soon" reads what it was asked about', () => {
  it('an acquire whose answer was lost is found by a point read of that lease, though the owner index lags', async () => {
    const table = new LaggingTable();
    const { host, started } = trackingHost(table);
    const { clock, advance, now } = handClock();
    const place: SyncPlace = { hears: true, leading: false };
    const sync = fleetSync(table, host, clock, place);
    const second = async () => {
      await sync.sync();
      advance(1_000);
    };
    for (let s = 0; s < 10; s += 1) await second(); // steady state: one own-lease check at t=0

    // t=10 s: the leader's plan gave X to worker-a; its acquire (a conditional write) applied
    // but its answer timed out, so the lease machine ended as not acquired and the worker asked
    // for an own-lease check soon (onOwnershipUncertain → checkOwnLeasesSoon).
    table.leases.set(X, lease('worker-a', 6));
    table.laggingIndex = []; // the GSI has not caught up with that write yet
    sync.checkOwnLeasesSoon(X); // as the lease actor asks: naming the lease
    await second(); // the check runs now: the index does not list X yet
    table.laggingIndex = undefined; // a moment later the index shows it

    while (now() < 15_000) await second();
    // The lease is owned by worker-a and run by nobody; the leader sees it owned by a live worker
    // and plans nothing. It starts only at the next periodic check, t=40 s.
    expect(started.map((entry) => entry.leaseKey)).toContain(X);
  });

  it('a missed handover whose check failed once (a DynamoDB timeout) is checked again a second later', async () => {
    const table = new LaggingTable();
    const { host, started } = trackingHost(table);
    const { clock, advance, now } = handClock();
    const sync = fleetSync(table, host, clock, { hears: true, leading: false });
    const second = async () => {
      await sync.sync().catch(() => undefined); // the loop logs a failed sync and goes on
      advance(1_000);
    };
    for (let s = 0; s < 10; s += 1) await second();

    // t=10 s: a lease was handed over to worker-a, whose announcement it could not act on
    // (onHandoverMissed); DynamoDB is slow, so the index query of that very check times out.
    table.leases.set(X, lease('worker-a', 6));
    table.failingIndexQueries = 1;
    table.failingLeaseReads = 1;
    sync.checkOwnLeasesSoon(X); // as the member asks: naming the lease
    while (now() < 15_000) await second();
    expect(started.map((entry) => entry.leaseKey)).toContain(X);
  });
});

describe('a handover whose announcement is lost', () => {
  it('a shutdown transfer whose announcement is lost is found by the checks a peer’s leaving schedules', async () => {
    const table = new LaggingTable();
    const { host, started } = trackingHost(table);
    const { clock, advance, now } = handClock();
    const sync = fleetSync(table, host, clock, { hears: true, leading: false });
    const second = async () => {
      await sync.sync();
      advance(1_000);
    };
    table.leases.set(X, lease('worker-leaving', 3));
    for (let s = 0; s < 5; s += 1) await second();
    // t=5 s: worker-leaving shuts down and says so (`worker-leaving`: the member schedules checks
    // 2 s and drainTimeoutMs + 2 s later), plans its own handoffs (no plan is published for them),
    // drains X and transfers it to worker-a (epoch 4). Its `lease-released {to: worker-a}` is
    // lost (a NATS reconnect, a slow consumer): core NATS delivers at most once.
    sync.checkOwnLeasesAfterPeerLeaving(10_000);
    advance(500);
    table.leases.set(X, lease('worker-a', 4));
    while (now() < 9_000) await second();
    // Found by the first scheduled check, not 30 s later.
    expect(started.map((entry) => entry.leaseKey)).toContain(X);
  });
});

describe('state a worker that hears the leader keeps without namespace reads', () => {
  it('the relinquished epochs of leases it neither owns nor runs are forgotten', async () => {
    const table = new LaggingTable();
    const { host, relinquished, forgetCalls } = trackingHost(table);
    const { clock, advance } = handClock();
    const sync = fleetSync(table, host, clock, { hears: true, leading: false });
    // Leases this worker finished (SHARD_END) or handed off over its life, since deleted by the
    // leader's cleanup: only a namespace read (forgetRelinquishedExcept) trims them.
    for (let i = 0; i < 1_000; i += 1) relinquished.set(`shardId-${String(100_000 + i).padStart(12, '0')}`, 3);
    for (let s = 0; s < 3_600; s += 1) {
      await sync.sync();
      advance(1_000);
    }
    expect(forgetCalls()).toBeGreaterThan(0);
    expect(relinquished.size).toBe(0);
  });

  it('the heartbeat tracker, last fed an hour ago, does not judge a worker that registered a second ago dead', async () => {
    const table = new LaggingTable();
    const { host, started } = trackingHost(table);
    const { clock, advance } = handClock();
    const place: SyncPlace = { hears: false, leading: false };
    const sync = fleetSync(table, host, clock, place);
    const W = 'worker-w';
    const tableMode = (workerId: string, overrides: Partial<WorkerRecord> = {}) =>
      workerRecord(workerId, { liveness: 'table', grantTerm: undefined, heartbeat: 0, ...overrides });

    // t=0, fleet start: worker-a's first lease sync (no grant yet) reads the namespace; W has
    // just registered (heartbeat 0, table mode).
    table.workers.set('worker-a', tableMode('worker-a'));
    table.workers.set(W, tableMode(W));
    await sync.sync();

    // Both get grants and switch to `nats` (heartbeat 1); worker-a hears the leader for an hour
    // and reads no namespace. Meanwhile W was revoked (a long GC pause) and registered again:
    // heartbeat 0, table mode, and it re-acquired its old lease X (epoch 8) and processes it.
    place.hears = true;
    for (let s = 0; s < 3_600; s += 5) {
      await sync.sync();
      advance(5_000);
    }
    table.workers.set('worker-a', workerRecord('worker-a', { heartbeat: 1, grantTerm: 2 }));
    table.workers.set(W, tableMode(W, { startedAt: 3_599_000 })); // registered again 1 s ago: heartbeat 0
    table.leases.set(X, lease(W, 8));

    // worker-a loses its grants (a NATS blip, or it was just elected leader): it reads the
    // namespace again, with the heartbeat tracker as it was an hour ago.
    place.hears = false;
    await sync.sync();

    // W registered a second ago: nobody may judge it dead before it stood still for 15 s.
    expect(table.removedAsDead).toEqual([]);
    // ... and so nobody may take the lease W is processing.
    expect(started.filter((entry) => entry.leaseKey === X)).toEqual([]);
  });
});

describe('an eventually consistent namespace read that lags behind a lease just created', () => {
  it('does not make the leader stop a lease it acquired a moment ago: a consistent point read confirms it first', async () => {
    const table = new LaggingTable();
    const { host, hosted, sent } = trackingHost(table, 'worker-a');
    const { clock, advance } = handClock();
    const sync = fleetSync(table, host, clock, { hears: false, leading: true });
    // Cold start: the leader created X, planned it to itself and acquired it (epoch 1).
    table.leases.set(X, lease('worker-a', 1));
    hosted.set(X, { state: 'owned', ownership: { namespace: NS, leaseKey: X, leaseOwner: 'worker-a', leaseCounter: 1 } });
    // The leader's periodic read is an eventually consistent Query, served by a replica that has
    // not applied X's creation yet (DynamoDB replicas lag by up to about a second).
    table.laggingLeases = [];
    advance(5_000);
    await sync.sync();
    table.laggingLeases = undefined;
    expect(sent).toEqual([]);
    expect(table.leaseReads).toContain(X);
  });
});
