import type { ChaosEventKind } from './event-kinds.js';
import { STALL_BOUNDS, stallBoundMs } from './stall-bounds.js';
import type { Stall } from './stalls.js';

/** An injected event as the report names it. */
export interface EventRef {
  readonly id: number;
  readonly kind: ChaosEventKind;
  readonly atMs: number;
  readonly target: string | undefined;
  readonly durationMs: number | undefined;
  /** Whether the worker it hit was the leader at the time. */
  readonly leader: boolean | undefined;
}

/** A stall, and the events that may explain it. */
export interface StallReport extends Stall {
  /**
   * The injected event that most recently preceded the start of the stall, counting events up to
   * one second after the start (none: before any event).
   */
  readonly after: EventRef | undefined;
  /** How long after that event's start the stall began (negative: the shard's last progress came just before the event). */
  readonly startedAfterEventMs: number | undefined;
  /** Of the events whose window covers the stall's start, the one with the largest bound (none: no event's window does). */
  readonly explainedBy: EventRef | undefined;
  /**
   * The bound this stall is held to: the sum of the bounds of every event whose window covers its
   * start (each may add its own delay, e.g. a split while the parent's owner fails over), or the
   * steady-state bound when none does.
   */
  readonly boundMs: number;
}

/**
 * A stall starts at its shard's last progress, and the shard's next progress was due about one
 * GetRecords poll (250 ms) plus a batch later: an event that lands that soon after the start is
 * what the stall followed.
 */
const GRACE_MS = 1_000;

/**
 * Names the events behind a stall. An event's window runs from its start through its duration and
 * then its own bound: a stall that starts inside it may be its doing.
 */
export function attributeStall(stall: Stall, events: readonly EventRef[]): StallReport {
  const latestStart = Math.min(stall.fromMs + GRACE_MS, stall.toMs);
  let after: EventRef | undefined;
  let explainedBy: EventRef | undefined;
  let boundMs = 0;
  for (const event of events) {
    if (event.atMs > latestStart) continue;
    if (!after || event.atMs >= after.atMs) after = event;
    const windowEnd = event.atMs + (event.durationMs ?? 0) + STALL_BOUNDS[event.kind].baseMs;
    if (stall.fromMs > windowEnd) continue;
    const bound = stallBoundMs(event.kind, event.durationMs ?? 0);
    boundMs += bound;
    if (!explainedBy || bound > stallBoundMs(explainedBy.kind, explainedBy.durationMs ?? 0)) explainedBy = event;
  }
  return {
    ...stall,
    after,
    startedAfterEventMs: after ? stall.fromMs - after.atMs : undefined,
    explainedBy,
    boundMs: explainedBy ? boundMs : stallBoundMs('none'),
  };
}
