import { UNCLEAN_EVENT_SCOPE, type ChaosEventKind } from './event-kinds.js';
import type { LogLine, RunLine } from './log-lines.js';
import { worstStallBound } from './stall-bounds.js';
import { attributeStall, type EventRef, type StallReport } from './stall-attribution.js';
import { findStalls, type RecordTimes } from './stalls.js';

/** How many examples of each kind of anomaly the report lists. */
const SAMPLES = 5;
/** Stalls shorter than this are not attributed to events one by one (the longest always is). */
const ATTRIBUTED_STALL_MS = 250;

export interface ChaosReport {
  /** The run line: seed, fleet, stream, and `at`, when the run started. */
  readonly run: Omit<RunLine, 't'> | undefined;
  /** Injected events, by kind. */
  readonly events: Partial<Record<ChaosEventKind, number>>;
  readonly eventList: readonly EventRef[];
  readonly workersStarted: number;
  readonly produced: number;
  /** Distinct records processed at least once. */
  readonly processed: number;
  readonly lost: number;
  /** Extra processings of records already processed. */
  readonly duplicates: number;
  /** Of those, the ones whose previous processing was by a worker that then suffered an unclean event before the repeat. */
  readonly duplicatesAfterUnclean: number;
  readonly orderViolations: number;
  readonly overlappingBatches: number;
  readonly staleCheckpointsAccepted: number;
  readonly maxStallMs: number;
  readonly maxStall: StallReport | undefined;
  /** The longest stall explained by each kind of event (`none`: outside every event's window). */
  readonly maxStallByEvent: Partial<Record<ChaosEventKind | 'none', number>>;
  /** The largest bound among the injected events, and the kind it belongs to. */
  readonly stallBoundMs: number;
  readonly stallBoundKind: ChaosEventKind | 'none';
  /**
   * Stalls longer than the bounds of the events that explain them (see `StallReport.boundMs`):
   * not a target of their own (the run is held to the worst bound it injected), but each is
   * worth a look.
   */
  readonly stallsOverOwnBound: number;
  readonly batches: number;
  readonly checkpoints: { readonly attempted: number; readonly applied: number; readonly refused: number; readonly failed: number };
  /** Records processed that no put line names (should be 0). */
  readonly unknownRecords: number;
  /** Records processed on another shard than the one PutRecords named (should be 0). */
  readonly shardMismatches: number;
  readonly malformedLines: number;
  readonly samples: {
    readonly lost: readonly { key: string; n: number; shard: string; putAt: number }[];
    readonly orderViolations: readonly { key: string; n: number; highestBefore: number; worker: string; shard: string; at: number }[];
    readonly overlappingBatches: readonly {
      shard: string;
      worker: string;
      epoch: number;
      batch: number;
      at: number;
      laterEpoch: number;
      laterEpochWorker: string;
    }[];
    readonly staleCheckpoints: readonly { id: string; worker: string; shard: string; epoch: number; seq: string; higherEpoch: number }[];
    readonly cleanDuplicates: readonly { key: string; n: number; first: string; repeat: string; at: number }[];
    readonly stalls: readonly StallReport[];
    readonly stallsOverOwnBound: readonly StallReport[];
  };
  /** Each target with its value, and whether it was met. */
  readonly targets: Record<'lost' | 'orderViolations' | 'overlappingBatches' | 'staleCheckpointsAccepted' | 'maxStallMs', TargetResult>;
  readonly passed: boolean;
}

export interface TargetResult {
  readonly value: number;
  readonly limit: number;
  readonly met: boolean;
}

interface Processing {
  readonly worker: string;
  readonly index: number;
}

interface UncleanSpan {
  readonly worker: string | undefined;
  readonly from: number;
  to: number;
}

/**
 * Reads a chaos run's shared log (lines in file order) and reports what happened. Pure: the same
 * lines always give the same report. The definitions are in chaos/README.md.
 */
export function checkChaosLog(lines: readonly LogLine[], malformedLines = 0): ChaosReport {
  let run: ChaosReport['run'];
  let endAt: number | undefined;
  const events: EventRef[] = [];
  const eventCounts: Partial<Record<ChaosEventKind, number>> = {};
  const unclean: UncleanSpan[] = [];
  const openSpans = new Map<number, UncleanSpan>();
  let workersStarted = 0;

  const produced = new Map<string, { key: string; n: number; shard: string; putAt: number }>();
  const processings = new Map<string, Processing[]>();
  const firstProcessing = new Map<string, { at: number; shard: string }>();
  const highest = new Map<string, number>();
  let duplicates = 0;
  let duplicatesAfterUnclean = 0;
  let orderViolations = 0;
  const recEpochByShard = new Map<string, { epoch: number; worker: string }>();
  const anyEpochByShard = new Map<string, number>();
  const overlapping = new Set<string>();
  const staleAttempts = new Map<string, { worker: string; shard: string; epoch: number; seq: string; higherEpoch: number }>();
  let staleCheckpointsAccepted = 0;
  const checkpoints = { attempted: 0, applied: 0, refused: 0, failed: 0 };
  let batches = 0;
  let lastAt = 0;
  const samples = {
    orderViolations: [] as ChaosReport['samples']['orderViolations'][number][],
    overlappingBatches: [] as ChaosReport['samples']['overlappingBatches'][number][],
    staleCheckpoints: [] as ChaosReport['samples']['staleCheckpoints'][number][],
    cleanDuplicates: [] as ChaosReport['samples']['cleanDuplicates'][number][],
  };

  const seeEpoch = (shard: string, epoch: number) => anyEpochByShard.set(shard, Math.max(anyEpochByShard.get(shard) ?? -Infinity, epoch));
  const uncleanBetween = (worker: string, from: number, to: number) =>
    unclean.some((span) => (span.worker === undefined || span.worker === worker) && span.from < to && span.to > from);

  lines.forEach((line, index) => {
    if (line.t !== 'batch') lastAt = Math.max(lastAt, line.at);
    switch (line.t) {
      case 'run':
        run = {
          at: line.at,
          seed: line.seed,
          minutes: line.minutes,
          workers: line.workers,
          shards: line.shards,
          streamName: line.streamName,
          applicationName: line.applicationName,
        };
        break;
      case 'event': {
        events.push({ id: line.id, kind: line.kind, atMs: line.at, target: line.target, durationMs: line.durationMs, leader: line.leader });
        eventCounts[line.kind] = (eventCounts[line.kind] ?? 0) + 1;
        // An unclean event of the leader's is every worker's: their grants stop, and batches in flight are cut short.
        const scope = line.leader && UNCLEAN_EVENT_SCOPE[line.kind] ? 'fleet' : UNCLEAN_EVENT_SCOPE[line.kind];
        if (scope) {
          const span: UncleanSpan = {
            worker: scope === 'fleet' ? undefined : line.target,
            from: index,
            to: line.durationMs ? Infinity : index,
          };
          unclean.push(span);
          if (line.durationMs) openSpans.set(line.id, span);
        }
        break;
      }
      case 'event-end': {
        const span = openSpans.get(line.id);
        if (span) span.to = index;
        openSpans.delete(line.id);
        break;
      }
      case 'spawn':
        workersStarted += 1;
        break;
      case 'exit':
        if (line.signal === 'SIGKILL') unclean.push({ worker: line.worker, from: index, to: index });
        break;
      case 'put':
        for (const [key, n, shard] of line.records) produced.set(`${key}#${n}`, { key, n, shard, putAt: line.at });
        break;
      case 'rec': {
        const id = `${line.key}#${line.n}`;
        seeEpoch(line.shard, line.epoch);
        // Overlap: a side effect under an epoch lower than one whose side effect for this shard is already in the file.
        const newest = recEpochByShard.get(line.shard);
        if (newest && line.epoch < newest.epoch) {
          const batchKey = `${line.worker}/${line.shard}/${line.epoch}/${line.batch}`;
          if (!overlapping.has(batchKey)) {
            overlapping.add(batchKey);
            if (samples.overlappingBatches.length < SAMPLES) {
              samples.overlappingBatches.push({
                shard: line.shard,
                worker: line.worker,
                epoch: line.epoch,
                batch: line.batch,
                at: line.at,
                laterEpoch: newest.epoch,
                laterEpochWorker: newest.worker,
              });
            }
          }
        } else if (!newest || line.epoch > newest.epoch) {
          recEpochByShard.set(line.shard, { epoch: line.epoch, worker: line.worker });
        }

        const previous = processings.get(id);
        if (previous) {
          duplicates += 1;
          const last = previous[previous.length - 1]!;
          if (uncleanBetween(last.worker, last.index, index)) duplicatesAfterUnclean += 1;
          else if (samples.cleanDuplicates.length < SAMPLES) {
            samples.cleanDuplicates.push({ key: line.key, n: line.n, first: last.worker, repeat: line.worker, at: line.at });
          }
          previous.push({ worker: line.worker, index });
        } else {
          processings.set(id, [{ worker: line.worker, index }]);
          firstProcessing.set(id, { at: line.at, shard: line.shard });
          const highestBefore = highest.get(line.key) ?? 0;
          if (line.n > highestBefore + 1) {
            orderViolations += 1;
            if (samples.orderViolations.length < SAMPLES) {
              samples.orderViolations.push({
                key: line.key,
                n: line.n,
                highestBefore,
                worker: line.worker,
                shard: line.shard,
                at: line.at,
              });
            }
          }
          highest.set(line.key, Math.max(highestBefore, line.n));
        }
        break;
      }
      case 'batch':
        batches += 1;
        seeEpoch(line.shard, line.epoch);
        // Cut short by the lease's signal or deadline: the worker's liveness lapsed or it lost the
        // lease; the records done so far come again (less what was checkpointed).
        if (line.outcome === 'aborted' || line.outcome === 'lease-invalid') unclean.push({ worker: line.worker, from: index, to: index });
        break;
      case 'cp':
        if (line.phase === 'attempt') {
          checkpoints.attempted += 1;
          const higherEpoch = anyEpochByShard.get(line.shard);
          if (higherEpoch !== undefined && higherEpoch > line.epoch) {
            staleAttempts.set(line.id, { worker: line.worker, shard: line.shard, epoch: line.epoch, seq: line.seq, higherEpoch });
          }
          seeEpoch(line.shard, line.epoch);
        } else {
          checkpoints[line.phase] += 1;
          // Refused while the worker's liveness was unconfirmed (or the lease lost): the batch
          // comes again, less what was checkpointed.
          if (line.phase === 'refused') unclean.push({ worker: line.worker, from: index, to: index });
          const stale = staleAttempts.get(line.id);
          if (line.phase === 'applied' && stale) {
            staleCheckpointsAccepted += 1;
            if (samples.staleCheckpoints.length < SAMPLES) samples.staleCheckpoints.push({ id: line.id, ...stale });
          }
        }
        break;
      case 'life':
        seeEpoch(line.shard, line.epoch);
        if (line.event === 'leaseLost') unclean.push({ worker: line.worker, from: index, to: index });
        break;
      case 'produce-stop':
        break;
      case 'end':
        endAt = line.at;
        break;
    }
  });

  // Lost records, and the times the stall computation needs.
  const lostSamples: ChaosReport['samples']['lost'][number][] = [];
  let lost = 0;
  const times: RecordTimes[] = [];
  for (const [id, record] of produced) {
    const first = firstProcessing.get(id);
    if (!first) {
      lost += 1;
      if (lostSamples.length < SAMPLES) lostSamples.push(record);
    }
    times.push({ putShard: record.shard, putAt: record.putAt, firstAt: first?.at, firstShard: first?.shard });
  }
  let unknownRecords = 0;
  let shardMismatches = 0;
  for (const [id, first] of firstProcessing) {
    const record = produced.get(id);
    if (!record) unknownRecords += 1;
    else if (record.shard !== first.shard) shardMismatches += 1;
  }

  const stalls = findStalls(times, endAt ?? lastAt, 0)
    .filter((stall, index) => index === 0 || stall.ms >= ATTRIBUTED_STALL_MS)
    .map((stall) => attributeStall(stall, events));
  const maxStallByEvent: Partial<Record<ChaosEventKind | 'none', number>> = {};
  for (const stall of stalls) {
    const kind = stall.explainedBy?.kind ?? 'none';
    maxStallByEvent[kind] = Math.max(maxStallByEvent[kind] ?? 0, stall.ms);
  }
  const overBound = stalls.filter((stall) => stall.ms > stall.boundMs);
  const maxStall = stalls[0];
  const maxStallMs = maxStall?.ms ?? 0;
  const worst = worstStallBound(events);

  const target = (value: number, limit: number): TargetResult => ({ value, limit, met: value <= limit });
  const targets = {
    lost: target(lost, 0),
    orderViolations: target(orderViolations, 0),
    overlappingBatches: target(overlapping.size, 0),
    staleCheckpointsAccepted: target(staleCheckpointsAccepted, 0),
    maxStallMs: target(maxStallMs, worst.boundMs),
  };
  return {
    run,
    events: eventCounts,
    eventList: events,
    workersStarted,
    produced: produced.size,
    processed: firstProcessing.size,
    lost,
    duplicates,
    duplicatesAfterUnclean,
    orderViolations,
    overlappingBatches: overlapping.size,
    staleCheckpointsAccepted,
    maxStallMs,
    maxStall,
    maxStallByEvent,
    stallBoundMs: worst.boundMs,
    stallBoundKind: worst.kind,
    stallsOverOwnBound: overBound.length,
    batches,
    checkpoints,
    unknownRecords,
    shardMismatches,
    malformedLines,
    samples: { lost: lostSamples, ...samples, stalls: stalls.slice(0, SAMPLES), stallsOverOwnBound: overBound.slice(0, SAMPLES) },
    targets,
    passed: Object.values(targets).every((result) => result.met),
  };
}
