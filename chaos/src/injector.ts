import { setTimeout as sleep } from 'node:timers/promises';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { mergeShards, splitShard, type ShardInfo } from '@shoal/coordinator';
import type { ChaosFleet, ChaosWorkerProcess } from './chaos-fleet.js';
import type { ChaosEventKind, WorkerFaultKind } from './event-kinds.js';
import type { FleetView } from './fleet-view.js';
import type { PrivateNatsServer } from './private-nats.js';
import type { PrivateRedisServer } from './private-redis.js';
import type { ScheduledEvent } from './schedule.js';
import type { SharedLog } from './shared-log.js';

export interface InjectorOptions {
  readonly fleet: ChaosFleet;
  readonly view: FleetView;
  readonly natsMain: PrivateNatsServer;
  readonly redis: PrivateRedisServer;
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly log: SharedLog;
  /** The fleet never has fewer running workers than this for longer than a restart takes. */
  readonly minWorkers: number;
  readonly minShards: number;
  readonly maxShards: number;
  /** Something worth a look that is not a check of its own (an event that could not be done, a slow exit). */
  readonly note: (message: string) => void;
}

/** A SIGTERMed worker that has not exited after this long is SIGKILLed (and noted): drainTimeoutMs is 10 s. */
const SIGTERM_EXIT_TIMEOUT_MS = 30_000;
const RESHARD_TIMEOUT_MS = 30_000;

/**
 * Does each scheduled event: picks its target among the workers (or shards) that can take it
 * now, writes the event line, acts, and, for events with a duration, undoes it when the time is
 * up and writes the end line. Killed and terminated workers are replaced by fresh ones. Every
 * follow-up runs in a tracked task, so `settle()` can wait for all of them.
 */
export class EventInjector {
  private nextId = 1;
  private readonly tasks = new Set<Promise<void>>();

  constructor(private readonly options: InjectorOptions) {}

  /** Starts the event; resolves once it was done (its end, if any, follows in a task). */
  async inject(event: ScheduledEvent): Promise<void> {
    try {
      await this.dispatch(event);
    } catch (error) {
      this.options.note(`event ${event.kind} at +${event.atMs} ms failed: ${String(error)}`);
    }
  }

  /** Waits until every event ended and every replacement worker was started. */
  async settle(): Promise<void> {
    while (this.tasks.size > 0) await Promise.all([...this.tasks]);
  }

  private async dispatch(event: ScheduledEvent): Promise<void> {
    switch (event.kind) {
      case 'sigkill':
      case 'sigkill-leader':
        return this.kill(event, 'SIGKILL');
      case 'sigterm':
        return this.kill(event, 'SIGTERM');
      case 'sigstop':
      case 'sigstop-leader':
        return this.pause(event);
      case 'partition-worker':
      case 'partition-leader':
        return this.partition(event);
      case 'nats-restart':
        return this.restartNats(event);
      case 'redis-restart':
        return this.restartRedis(event);
      case 'dynamodb-delay':
      case 'dynamodb-throttle':
      case 'kinesis-throttle':
      case 'kinesis-expired-iterator':
        return this.sdkFault(event, event.kind);
      case 'split':
      case 'merge':
        return this.reshard(event);
    }
  }

  private async kill(event: ScheduledEvent, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const { fleet, minWorkers } = this.options;
    const chosen = await this.chooseWorker(event);
    if (!chosen) return;
    const { worker, kind, leader } = chosen;
    const remaining = fleet.alive().filter((candidate) => !candidate.leaving && candidate !== worker).length;
    // Never below the minimum for longer than a start takes: replace at once when it would be.
    const restartDelayMs = remaining < minWorkers ? 0 : event.restartDelayMs;
    worker.leaving = true;
    this.begin(kind, worker.workerId, undefined, `replaced after ${restartDelayMs} ms`, leader);
    worker.signal('SIGCONT');
    worker.signal(signal);
    this.track(
      (async () => {
        await sleep(restartDelayMs);
        await fleet.spawn();
      })(),
    );
    if (signal === 'SIGTERM') {
      this.track(
        (async () => {
          const timer = setTimeout(() => {
            this.options.note(`${worker.workerId} had not exited ${SIGTERM_EXIT_TIMEOUT_MS} ms after SIGTERM; SIGKILLed`);
            worker.signal('SIGKILL');
          }, SIGTERM_EXIT_TIMEOUT_MS);
          await worker.exited;
          clearTimeout(timer);
        })(),
      );
    }
  }

  private async pause(event: ScheduledEvent): Promise<void> {
    const chosen = await this.chooseWorker(event);
    if (!chosen) return;
    const { worker, kind, leader } = chosen;
    const id = this.begin(kind, worker.workerId, event.durationMs, undefined, leader);
    worker.busyUntil = Date.now() + event.durationMs;
    worker.paused = true;
    worker.signal('SIGSTOP');
    this.later(event.durationMs, () => {
      worker.signal('SIGCONT');
      worker.paused = false;
      this.end(id);
    });
  }

  private async partition(event: ScheduledEvent): Promise<void> {
    const chosen = await this.chooseWorker(event);
    if (!chosen) return;
    const { worker, kind, leader } = chosen;
    const id = this.begin(kind, worker.workerId, event.durationMs, undefined, leader);
    worker.busyUntil = Date.now() + event.durationMs;
    worker.proxy.partition();
    this.later(event.durationMs, () => {
      worker.proxy.heal();
      this.end(id);
    });
  }

  private async restartNats(event: ScheduledEvent): Promise<void> {
    const { natsMain } = this.options;
    const id = this.begin(event.kind, 'nats-server', event.durationMs, undefined);
    await natsMain.kill();
    this.track(
      (async () => {
        await sleep(event.durationMs);
        await natsMain.resume();
        this.end(id);
      })(),
    );
  }

  private async restartRedis(event: ScheduledEvent): Promise<void> {
    const { redis } = this.options;
    const id = this.begin(event.kind, 'redis-server', event.durationMs, undefined);
    await redis.stop();
    this.track(
      (async () => {
        await sleep(event.durationMs);
        await redis.resume();
        this.end(id);
      })(),
    );
  }

  private async sdkFault(event: ScheduledEvent, fault: WorkerFaultKind): Promise<void> {
    const chosen = await this.chooseWorker(event);
    if (!chosen) return;
    const { worker, leader } = chosen;
    const id = this.begin(fault, worker.workerId, event.durationMs, `p=${event.probability}`, leader);
    worker.busyUntil = Date.now() + event.durationMs;
    worker.fault(fault, event.durationMs, event.probability);
    this.later(event.durationMs, () => this.end(id));
  }

  private async reshard(event: ScheduledEvent): Promise<void> {
    const { view, kinesis, streamName, minShards, maxShards } = this.options;
    const open = await view.openShards();
    const kind: ChaosEventKind =
      event.kind === 'split' ? (open.length < maxShards ? 'split' : 'merge') : open.length > minShards ? 'merge' : 'split';
    if (kind === 'split') {
      const shard = open[Math.floor(event.pick * open.length)]!;
      const id = this.begin(kind, shard.shardId, undefined, `${open.length} → ${open.length + 1} open shards`);
      const result = await splitShard(kinesis, streamName, shard.shardId, { timeoutMs: RESHARD_TIMEOUT_MS });
      this.end(id, `children ${result.childShards.map((child) => child.shardId).join(', ')}`);
    } else {
      const pairs = adjacentPairs(open);
      if (pairs.length === 0) {
        this.options.note(`merge at +${event.atMs} ms skipped: no adjacent open shards`);
        return;
      }
      const [a, b] = pairs[Math.floor(event.pick * pairs.length)]!;
      const id = this.begin(kind, `${a.shardId}+${b.shardId}`, undefined, `${open.length} → ${open.length - 1} open shards`);
      const result = await mergeShards(kinesis, streamName, a.shardId, b.shardId, { timeoutMs: RESHARD_TIMEOUT_MS });
      this.end(id, `child ${result.childShards.map((child) => child.shardId).join(', ')}`);
    }
  }

  /**
   * The worker an event hits. `*-leader` kinds hit the leader when it can take the event (else
   * they become their plain kind); the plain kinds of the same families spare the leader, so the
   * two stay distinct; SIGTERM and SDK faults hit any worker.
   */
  private async chooseWorker(
    event: ScheduledEvent,
  ): Promise<{ worker: ChaosWorkerProcess; kind: ChaosEventKind; leader: boolean } | undefined> {
    const { fleet, view } = this.options;
    const now = Date.now();
    const available = fleet
      .alive()
      .filter((worker) => worker.available(now))
      .sort((a, b) => a.workerId.localeCompare(b.workerId, 'en', { numeric: true }));
    const leaderId = await view.leaderId().catch(() => undefined);
    const leaderKinds: Partial<Record<ChaosEventKind, ChaosEventKind>> = {
      'sigkill-leader': 'sigkill',
      'sigstop-leader': 'sigstop',
      'partition-leader': 'partition-worker',
    };
    const plain = leaderKinds[event.kind];
    if (plain !== undefined) {
      const leader = available.find((worker) => worker.workerId === leaderId);
      if (leader) return { worker: leader, kind: event.kind, leader: true };
      this.options.note(`${event.kind} at +${event.atMs} ms: the leader (${leaderId ?? 'none'}) could not take it; did ${plain} instead`);
      return this.pickFrom(available, event, plain, leaderId);
    }
    const sparesLeader = event.kind === 'sigkill' || event.kind === 'sigstop' || event.kind === 'partition-worker';
    const candidates = sparesLeader ? available.filter((worker) => worker.workerId !== leaderId) : available;
    return this.pickFrom(candidates, event, event.kind, leaderId);
  }

  private pickFrom(
    candidates: readonly ChaosWorkerProcess[],
    event: ScheduledEvent,
    kind: ChaosEventKind,
    leaderId: string | undefined,
  ): { worker: ChaosWorkerProcess; kind: ChaosEventKind; leader: boolean } | undefined {
    if (candidates.length === 0) {
      this.options.note(`${event.kind} at +${event.atMs} ms skipped: no worker could take it`);
      return undefined;
    }
    const worker = candidates[Math.floor(event.pick * candidates.length)]!;
    return { worker, kind, leader: worker.workerId === leaderId };
  }

  private begin(
    kind: ChaosEventKind,
    target: string,
    durationMs: number | undefined,
    detail: string | undefined,
    leader?: boolean,
  ): number {
    const id = this.nextId++;
    this.options.log.write({
      t: 'event',
      id,
      kind,
      at: Date.now(),
      target,
      ...(leader === undefined ? {} : { leader }),
      ...(durationMs === undefined ? {} : { durationMs }),
      ...(detail === undefined ? {} : { detail }),
    });
    return id;
  }

  private end(id: number, detail?: string): void {
    this.options.log.write({ t: 'event-end', id, at: Date.now(), ...(detail === undefined ? {} : { detail }) });
  }

  private later(delayMs: number, action: () => void): void {
    this.track(sleep(delayMs).then(action));
  }

  private track(task: Promise<void>): void {
    const tracked = task.catch((error: unknown) => this.options.note(`event follow-up failed: ${String(error)}`));
    this.tasks.add(tracked);
    void tracked.finally(() => this.tasks.delete(tracked));
  }
}

/** Neighbouring open shards whose hash key ranges touch (the input is ordered by range). */
function adjacentPairs(open: readonly ShardInfo[]): [ShardInfo, ShardInfo][] {
  const pairs: [ShardInfo, ShardInfo][] = [];
  for (let i = 0; i + 1 < open.length; i += 1) {
    const [a, b] = [open[i]!, open[i + 1]!];
    if (BigInt(a.hashKeyRange.endingHashKey) + 1n === BigInt(b.hashKeyRange.startingHashKey)) pairs.push([a, b]);
  }
  return pairs;
}
