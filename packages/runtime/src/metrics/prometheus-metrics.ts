import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { hasLetGo, type GetRecordsOutcome, type ShardObserver, type WorkerObserver } from './worker-observer.js';

/** What the metrics read from the worker when scraped. */
export interface WorkerStatusView {
  /** Top-level machine state of each lease the worker hosts. */
  leaseStates(): readonly string[];
  /** `table`, `nats` or `uncertain`; undefined before the worker started. */
  livenessMode(): string | undefined;
  leading(): boolean;
  /** As leader: the leases its last plan spread over the fleet; undefined otherwise. */
  plannedLeases(): number | undefined;
  /** As leader with load reports: the largest shard lag in the application; undefined otherwise. */
  applicationMaxLagMs(): number | undefined;
}

/**
 * The worker's Prometheus metrics, in a registry of its own, every series labelled with the
 * application and worker: what the shard consumers count as they work, and the lease, liveness
 * and leadership state read from the worker when scraped. Per-shard series go when the lease
 * leaves the worker, so a long-lived worker does not keep a series for every shard it ever ran.
 */
export class PrometheusMetrics implements WorkerObserver {
  readonly registry = new Registry();
  private readonly records: Counter<'stream' | 'shard'>;
  private readonly bytes: Counter<'stream' | 'shard'>;
  private readonly lag: Gauge<'stream' | 'shard'>;
  private readonly duration: Histogram<'stream'>;
  private readonly processorErrors: Counter<'stream' | 'shard'>;
  private readonly checkpoints: Counter<'stream' | 'shard' | 'result'>;
  private readonly getRecords: Counter<'stream' | 'shard' | 'outcome'>;
  private readonly transitions: Counter<'stream' | 'state'>;

  /** `targetLeasesPerWorker`: the leases one worker should carry, for `shoal_desired_workers`; none: no such gauge. */
  constructor(labels: { readonly application: string; readonly worker: string }, status: WorkerStatusView, targetLeasesPerWorker?: number) {
    const registers = [this.registry];
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: 'shoal_' });
    const perShard = ['stream', 'shard'] as const;
    this.records = new Counter({
      name: 'shoal_records_processed_total',
      help: 'Records processRecords returned from.',
      labelNames: perShard,
      registers,
    });
    this.bytes = new Counter({
      name: 'shoal_bytes_processed_total',
      help: 'Bytes of record data processRecords returned from.',
      labelNames: perShard,
      registers,
    });
    this.lag = new Gauge({
      name: 'shoal_millis_behind_latest',
      help: "How far behind the shard's tip the last batch was: GetRecords' MillisBehindLatest, or where that is 0 the age of its newest record at delivery.",
      labelNames: perShard,
      registers,
    });
    this.duration = new Histogram({
      name: 'shoal_process_records_duration_seconds',
      help: 'Time processRecords took per batch.',
      labelNames: ['stream'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.processorErrors = new Counter({
      name: 'shoal_processor_errors_total',
      help: 'processRecords calls that threw; each batch is delivered again after a backoff.',
      labelNames: perShard,
      registers,
    });
    this.checkpoints = new Counter({
      name: 'shoal_checkpoints_total',
      help: 'Checkpoint writes by result: written, or refused (the lease was no longer this worker’s).',
      labelNames: [...perShard, 'result'],
      registers,
    });
    this.getRecords = new Counter({
      name: 'shoal_get_records_total',
      help: 'GetRecords calls by outcome: ok, throttled, expired-iterator, error.',
      labelNames: [...perShard, 'outcome'],
      registers,
    });
    this.transitions = new Counter({
      name: 'shoal_lease_transitions_total',
      help: 'Lease machine transitions by the state entered.',
      labelNames: ['stream', 'state'],
      registers,
    });
    new Gauge({
      name: 'shoal_leases',
      help: 'Leases this worker hosts, by machine state.',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const state of status.leaseStates()) this.inc({ state });
      },
    });
    new Gauge({
      name: 'shoal_liveness_mode',
      help: 'The worker’s liveness mode: 1 for the current one (table, nats, uncertain).',
      labelNames: ['mode'],
      registers,
      collect() {
        this.reset();
        const mode = status.livenessMode();
        if (mode !== undefined) this.set({ mode }, 1);
      },
    });
    if (targetLeasesPerWorker !== undefined) {
      new Gauge({
        name: 'shoal_desired_workers',
        help: 'From the leader: workers the fleet should have, its leases ÷ the target per worker, at most one per lease (for an autoscaler).',
        registers,
        collect() {
          this.reset();
          const leases = status.plannedLeases();
          if (leases !== undefined) this.set(Math.min(leases, Math.ceil(leases / targetLeasesPerWorker)));
        },
      });
    }
    new Gauge({
      name: 'shoal_application_max_lag_millis',
      help: 'From the leader, with a worker load store: the largest shard lag any worker reported.',
      registers,
      collect() {
        this.reset();
        const lag = status.applicationMaxLagMs();
        if (lag !== undefined) this.set(lag);
      },
    });
    new Gauge({
      name: 'shoal_leader',
      help: '1 while this worker leads its fleet.',
      registers,
      collect() {
        this.set(status.leading() ? 1 : 0);
      },
    });
  }

  shard(stream: string, shard: string): ShardObserver {
    const labels = { stream, shard };
    return {
      batchProcessed: (records, bytes, seconds, lagMs) => {
        this.records.inc(labels, records);
        this.bytes.inc(labels, bytes);
        this.lag.set(labels, lagMs);
        this.duration.observe({ stream }, seconds);
      },
      processorFailed: () => this.processorErrors.inc(labels),
      checkpoint: (result) => this.checkpoints.inc({ ...labels, result }),
      getRecords: (outcome: GetRecordsOutcome) => this.getRecords.inc({ ...labels, outcome }),
    };
  }

  leaseTransition(stream: string, shard: string, state: string): void {
    this.transitions.inc({ stream, state });
    if (!hasLetGo(state)) return;
    for (const metric of [this.records, this.bytes, this.lag, this.processorErrors]) metric.remove({ stream, shard });
    for (const result of ['written', 'refused']) this.checkpoints.remove({ stream, shard, result });
    for (const outcome of ['ok', 'throttled', 'expired-iterator', 'error']) this.getRecords.remove({ stream, shard, outcome });
  }
}
