export interface BackoffOptions {
  /** First delay. */
  readonly baseMs: number;
  /** Upper bound of any delay. */
  readonly maxMs: number;
}

/**
 * Exponential backoff with "full jitter": attempt n waits a random time in
 * [base·2^(n-1)/2, min(max, base·2^(n-1))], so retrying consumers spread out instead of
 * hitting a throttled shard in lockstep.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next retry; each call grows it. */
  next(): number {
    this.attempt += 1;
    const ceiling = Math.min(this.options.maxMs, this.options.baseMs * 2 ** Math.min(this.attempt - 1, 30));
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
