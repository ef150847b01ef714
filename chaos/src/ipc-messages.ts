import { WORKER_FAULT_KINDS, type WorkerFaultKind } from './event-kinds.js';

/** What the runner tells a chaos worker over its IPC channel. */
export type RunnerMessage = {
  readonly type: 'fault';
  readonly fault: WorkerFaultKind;
  readonly durationMs: number;
  /** Share of the affected calls that fail (or are delayed) while the fault is on. */
  readonly probability: number;
};

/** What a chaos worker tells the runner. */
export type WorkerMessage = { readonly type: 'running' } | { readonly type: 'stopped' };

/** The configuration a chaos worker reads from `CHAOS_WORKER_CONFIG` (JSON). */
export interface ChaosWorkerConfig {
  readonly workerId: string;
  readonly applicationName: string;
  readonly streamName: string;
  readonly leaseTableName: string;
  /** The worker's own NATS proxy. */
  readonly natsUrl: string;
  readonly redisUrl: string;
  /** The shared chaos log. */
  readonly logPath: string;
  /** Where the worker's pino log goes; none when undefined. */
  readonly workerLogPath?: string;
  readonly workerLogLevel: string;
  /** Seeds the worker's fault coin flips. */
  readonly seed: number;
}

export function isRunnerMessage(value: unknown): value is RunnerMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Partial<RunnerMessage>;
  return (
    message.type === 'fault' &&
    (WORKER_FAULT_KINDS as readonly string[]).includes(message.fault ?? '') &&
    typeof message.durationMs === 'number' &&
    typeof message.probability === 'number'
  );
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  const type = (value as { type?: unknown } | null)?.type;
  return type === 'running' || type === 'stopped';
}
