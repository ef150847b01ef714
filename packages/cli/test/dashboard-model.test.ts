import type { LeaseStateSnapshot, LeaseStateUpdate, WorkerLiveReport } from '@shoal/coordinator';
import { describe, expect, it } from 'vitest';
import { DashboardModel } from '../src/dashboard/dashboard-model.js';

let clock = 1_000_000;
const now = () => clock;

function state(overrides: Partial<LeaseStateSnapshot> & { revision?: number; initial?: boolean } = {}): LeaseStateUpdate {
  const { revision = 1, initial = false, ...snapshot } = overrides;
  const full: LeaseStateSnapshot = {
    application: 'billing',
    streamName: 'orders',
    leaseKey: 'shardId-000000000000',
    shardId: 'shardId-000000000000',
    workerId: 'w1',
    state: 'owned.processing',
    leaseCounter: 1,
    checkpoint: '100',
    at: clock,
    ...snapshot,
  };
  return { type: 'state', key: `orders.${full.leaseKey}`, revision, initial, snapshot: full };
}

function report(overrides: Partial<WorkerLiveReport> = {}): WorkerLiveReport {
  return {
    application: 'billing',
    workerId: 'w1',
    state: 'running',
    leading: false,
    intervalMs: 5_000,
    at: clock,
    shards: [],
    ...overrides,
  };
}

describe('DashboardModel', () => {
  it('puts each held lease under its worker, names the leader, and keeps the lag of each shard', () => {
    const model = new DashboardModel({ application: 'billing', now });
    model.applyLeaseState(state({ initial: true }));
    model.applyLeaseState(state({ leaseKey: 'shardId-000000000001', shardId: 'shardId-000000000001', workerId: 'w2', initial: true }));
    model.applyWorkerReport(
      report({ leading: true, liveness: 'nats', shards: [{ streamName: 'orders', shardId: 'shardId-000000000000', lagMs: 1_500 }] }),
    );
    model.applyWorkerReport(report({ workerId: 'w2' }));
    const view = model.view();
    expect(view.leaders).toEqual(['w1']);
    expect(view.workers.map((worker) => [worker.workerId, worker.leases.map((lease) => lease.shardId)])).toEqual([
      ['w1', ['shardId-000000000000']],
      ['w2', ['shardId-000000000001']],
    ]);
    expect(view.workers[0]!.leases[0]!.lagMs).toBe(1_500);
    expect(view.lag).toEqual([{ streamName: 'orders', shardId: 'shardId-000000000000', points: [[clock, 1_500]] }]);
    expect(view.transitions).toEqual([]);
  });

  it("ignores a previous owner's state that lands after the next owner's, and counts only changes of state or worker as transitions", () => {
    const model = new DashboardModel({ application: 'billing', now });
    model.applyLeaseState(state({ workerId: 'w1', leaseCounter: 4 }));
    model.applyLeaseState(state({ workerId: 'w1', leaseCounter: 4, checkpoint: '200' }));
    model.applyLeaseState(state({ workerId: 'w2', leaseCounter: 5 }));
    model.applyLeaseState(state({ workerId: 'w1', leaseCounter: 4, state: 'ended', reason: 'handed-off' }));
    const view = model.view();
    expect(view.workers.map((worker) => [worker.workerId, worker.leases.length])).toEqual([['w2', 1]]);
    expect(view.transitions.map((transition) => transition.workerId)).toEqual(['w2', 'w1']);
  });

  it('drops a worker that said it stopped, or whose reports stopped, and reports of another application', () => {
    const model = new DashboardModel({ application: 'billing', now });
    model.applyWorkerReport(report({ workerId: 'stops' }));
    model.applyWorkerReport(report({ workerId: 'goes-quiet', intervalMs: 1_000 }));
    model.applyWorkerReport(report({ workerId: 'other-app', application: 'shipping' }));
    model.applyWorkerReport(report({ workerId: 'stops', state: 'stopped' }));
    expect(model.view().workers.map((worker) => worker.workerId)).toEqual(['goes-quiet']);
    clock += 3_001;
    expect(model.view().workers).toEqual([]);
  });

  it('holds a bounded amount whatever it is sent: transitions, lag history, series, leases let go long ago', () => {
    const model = new DashboardModel({ application: 'billing', historyMs: 60_000, now });
    for (let i = 0; i < 500; i += 1) model.applyLeaseState(state({ workerId: `w${i % 2}`, leaseCounter: i }));
    expect(model.view().transitions).toHaveLength(100);

    const shards = (count: number, offset: number) =>
      Array.from({ length: count }, (_, i) => ({ streamName: 'orders', shardId: `s-${offset + i}`, lagMs: 1 }));
    for (let worker = 0; worker < 3; worker += 1)
      model.applyWorkerReport(report({ workerId: `f${worker}`, shards: shards(5_000, worker * 5_000) }));
    expect(model.view().lag).toHaveLength(10_000);
    for (let i = 0; i < 1_000; i += 1) model.applyWorkerReport(report({ shards: [{ streamName: 'orders', shardId: 's-0', lagMs: i }] }));
    expect(model.view().lag.find((series) => series.shardId === 's-0')!.points).toHaveLength(600);
    clock += 60_001;
    expect(model.view().lag).toEqual([]);

    model.applyLeaseState(state({ leaseKey: 'gone', shardId: 'gone', state: 'ended', leaseCounter: 10_000 }));
    expect(model.view().unheld.map((lease) => lease.shardId)).toEqual(['gone']);
    clock += 5 * 60_000 + 1;
    expect(model.view().unheld).toEqual([]);
  });

  it('bounds the lease states it holds, and measures their age on its own clock (a forged future date does not keep one)', () => {
    const model = new DashboardModel({ application: 'billing', now });
    const future = clock + 10 * 365 * 24 * 3_600_000;
    for (let i = 0; i < 30_000; i += 1) {
      model.applyLeaseState(state({ leaseKey: `forged-${i}`, shardId: `forged-${i}`, workerId: `ghost-${i}`, at: future }));
    }
    const held = (view: ReturnType<DashboardModel['view']>) => view.workers.reduce((n, worker) => n + worker.leases.length, 0);
    expect(held(model.view())).toBe(20_000);
    clock += 2 * 3_600_000;
    expect(model.view().workers).toEqual([]);
  });

  it('lets a real worker show up although forged reports claimed every slot with a huge interval', () => {
    const model = new DashboardModel({ application: 'billing', now });
    for (let i = 0; i < 2_000; i += 1) model.applyWorkerReport(report({ workerId: `ghost-${i}`, intervalMs: 2 ** 31 }));
    model.applyWorkerReport(report({ workerId: 'real-worker' }));
    expect(model.view().workers.map((worker) => worker.workerId)).toContain('real-worker');
    clock += 3 * 60_000 + 1;
    expect(model.view().workers.map((worker) => worker.workerId)).toEqual([]);
  });

  it("keeps showing a lease's holder when a worker that never held it (its states carry no epoch) gives up on it later", () => {
    const model = new DashboardModel({ application: 'billing', now });
    model.applyLeaseState(state({ workerId: 'worker-c', state: 'owned.processing', leaseCounter: 7 }));
    model.applyLeaseState(state({ workerId: 'worker-b', state: 'ended', reason: 'not-acquired', leaseCounter: undefined }));
    const view = model.view();
    expect(view.workers.map((worker) => [worker.workerId, worker.leases.length])).toEqual([['worker-c', 1]]);
    expect(view.unheld).toEqual([]);
  });
});
