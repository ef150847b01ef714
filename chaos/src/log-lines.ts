import type { ChaosEventKind } from './event-kinds.js';

/**
 * The lines of a chaos run's shared log, one JSON object per line. Worker processes and the runner
 * append to the same file (O_APPEND, one write per line), so the file's line order is the true
 * global order of what they did. `at` is `Date.now()` of the writing process (one machine, one clock).
 */
export type LogLine =
  | RunLine
  | EventLine
  | EventEndLine
  | SpawnLine
  | ExitLine
  | PutLine
  | ProduceStopLine
  | RecordLine
  | BatchLine
  | CheckpointLine
  | LifecycleLine
  | EndLine;

/** First line: what the run was set up with. */
export interface RunLine {
  readonly t: 'run';
  readonly at: number;
  readonly seed: number;
  readonly minutes: number;
  readonly workers: number;
  readonly shards: number;
  readonly streamName: string;
  readonly applicationName: string;
}

/** An injected event began. `target` names the worker (or shards) it hit; `durationMs` how long it lasts, if bounded. */
export interface EventLine {
  readonly t: 'event';
  readonly id: number;
  readonly kind: ChaosEventKind;
  readonly at: number;
  readonly target?: string;
  /** Whether the worker it hit was the leader at the time. */
  readonly leader?: boolean;
  readonly durationMs?: number;
  readonly detail?: string;
}

/** An injected event with a duration ended (the fault was lifted, the process resumed, the server is back). */
export interface EventEndLine {
  readonly t: 'event-end';
  readonly id: number;
  readonly at: number;
  readonly detail?: string;
}

/** The runner started a worker process. */
export interface SpawnLine {
  readonly t: 'spawn';
  readonly worker: string;
  readonly pid: number;
  readonly at: number;
}

/** A worker process exited. */
export interface ExitLine {
  readonly t: 'exit';
  readonly worker: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly at: number;
}

/** One PutRecords call: each record as [partition key, per-key sequence number n, shard id], written by `at`. */
export interface PutLine {
  readonly t: 'put';
  readonly at: number;
  readonly records: readonly (readonly [string, number, string])[];
}

export interface ProduceStopLine {
  readonly t: 'produce-stop';
  readonly at: number;
}

/** One record's side effect, made by `worker` under lease epoch `epoch`, in its batch number `batch`. */
export interface RecordLine {
  readonly t: 'rec';
  readonly worker: string;
  readonly shard: string;
  readonly epoch: number;
  readonly batch: number;
  readonly key: string;
  readonly n: number;
  readonly seq: string;
  readonly at: number;
}

/** How a batch ended in the processor. */
export type BatchOutcome = 'ok' | 'lease-invalid' | 'aborted' | 'error';

/** One `processRecords` call: `done` of `count` records got their side effect. */
export interface BatchLine {
  readonly t: 'batch';
  readonly worker: string;
  readonly shard: string;
  readonly epoch: number;
  readonly batch: number;
  readonly first: string;
  readonly last: string;
  readonly count: number;
  readonly done: number;
  readonly start: number;
  readonly end: number;
  readonly outcome: BatchOutcome;
}

export type CheckpointPhase = 'attempt' | 'applied' | 'refused' | 'failed';

/**
 * A checkpoint: `attempt` is written before it is sent, then one result with the same `id`:
 * `applied` (the call resolved), `refused` (LeaseLostError), `failed` (any other error; may or may not have been written).
 */
export interface CheckpointLine {
  readonly t: 'cp';
  readonly worker: string;
  readonly shard: string;
  readonly epoch: number;
  readonly id: string;
  readonly phase: CheckpointPhase;
  /** The sequence number checkpointed, or `SHARD_END`. */
  readonly seq: string;
  readonly at: number;
  readonly error?: string;
}

export type LifecycleEvent = 'initialize' | 'shutdownRequested' | 'shardEnded' | 'leaseLost';

/** A processor callback other than `processRecords` began. */
export interface LifecycleLine {
  readonly t: 'life';
  readonly worker: string;
  readonly shard: string;
  readonly epoch: number;
  readonly event: LifecycleEvent;
  readonly at: number;
  readonly detail?: string;
}

/** Last line: the runner stopped observing. */
export interface EndLine {
  readonly t: 'end';
  readonly at: number;
}

const TYPES = new Set(['run', 'event', 'event-end', 'spawn', 'exit', 'put', 'produce-stop', 'rec', 'batch', 'cp', 'life', 'end']);

/** Parses one line of the shared log; `undefined` for a line that is not one of ours. */
export function parseLogLine(text: string): LogLine | undefined {
  if (text.trim() === '') return undefined;
  try {
    const value = JSON.parse(text) as { t?: unknown; at?: unknown };
    if (typeof value !== 'object' || value === null || typeof value.t !== 'string' || !TYPES.has(value.t)) return undefined;
    if (value.t !== 'batch' && typeof value.at !== 'number') return undefined;
    return value as LogLine;
  } catch {
    return undefined;
  }
}

/** Every parsed line in file order, and how many lines could not be parsed. */
export function parseLog(text: string): { lines: LogLine[]; malformed: number } {
  const lines: LogLine[] = [];
  let malformed = 0;
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    const line = parseLogLine(raw);
    if (line) lines.push(line);
    else malformed += 1;
  }
  return { lines, malformed };
}
