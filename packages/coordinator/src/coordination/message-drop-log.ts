import type { Logger } from '../logger.js';

/**
 * Counts the messages a bus drops (malformed, or not from whom they claim) and logs them at most
 * once per interval per kind and reason: a flood of garbage must not flood the log too. Kinds and
 * reasons are the bus's own words, never taken from a message (subjects and ids go into the
 * details), so the bookkeeping cannot grow with what anyone sends.
 */
export class MessageDropLog {
  private readonly counts = new Map<string, number>();
  private readonly lastLoggedAt = new Map<string, { at: number; suppressed: number }>();
  private total = 0;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Counts one dropped message; logs it unless this kind and reason were logged within the interval. */
  drop(kind: string, reason: string, details: Record<string, unknown> = {}): void {
    this.total += 1;
    const key = `${kind}|${reason}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    const now = this.now();
    const last = this.lastLoggedAt.get(key);
    if (last && now - last.at < this.intervalMs) {
      last.suppressed += 1;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.lastLoggedAt.set(key, { at: now, suppressed: 0 });
    this.logger.warn({ kind, ...details, ...(suppressed > 0 ? { droppedSinceLastLog: suppressed } : {}) }, `dropped a message: ${reason}`);
  }

  /** Dropped messages so far, in all. */
  get dropped(): number {
    return this.total;
  }

  /** Dropped messages by `kind|reason`. */
  countsByKind(): ReadonlyMap<string, number> {
    return this.counts;
  }
}
