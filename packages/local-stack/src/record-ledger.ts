/**
 * Bookkeeping for end-to-end runs: which records were produced, which were processed and how
 * often, and whether each partition key's records were processed in the order produced.
 * Records are identified by the `id` their payload carries (see `produceRecords`).
 */
export class RecordLedger {
  private readonly produced = new Map<string, { key: string; index: number }>();
  private readonly processedCounts = new Map<string, number>();
  private readonly nextIndexByKey = new Map<string, number>();
  private readonly lastIndexByKey = new Map<string, number>();
  private duplicateCount = 0;
  /** Produced records processed at least once; `lost` is derived from it in O(1). */
  private producedAndProcessed = 0;
  private outOfOrderCount = 0;
  private readonly waiters = new Set<() => void>();

  /** Records that a record with this id was written for this partition key, in key order. */
  recordProduced(id: string, partitionKey: string): void {
    const index = this.nextIndexByKey.get(partitionKey) ?? 0;
    this.nextIndexByKey.set(partitionKey, index + 1);
    this.produced.set(id, { key: partitionKey, index });
    // A fast consumer may process a record before its PutRecords call returned.
    if (this.processedCounts.has(id)) this.producedAndProcessed += 1;
  }

  /**
   * Records one processing of the record. A repeat counts as a duplicate; a record of a key
   * processed after a later record of the same key (other than by a repeat) counts as out of order.
   */
  recordProcessed(id: string): void {
    const count = (this.processedCounts.get(id) ?? 0) + 1;
    this.processedCounts.set(id, count);
    if (count > 1) {
      this.duplicateCount += 1;
    } else {
      const produced = this.produced.get(id);
      if (produced) {
        this.producedAndProcessed += 1;
        const last = this.lastIndexByKey.get(produced.key) ?? -1;
        if (produced.index < last) this.outOfOrderCount += 1;
        this.lastIndexByKey.set(produced.key, Math.max(last, produced.index));
      }
    }
    if (this.waiters.size > 0 && this.lost === 0) for (const wake of this.waiters) wake();
  }

  /** The ids of every record produced, in the order they were recorded. */
  producedIds(): string[] {
    return [...this.produced.keys()];
  }

  get producedCount(): number {
    return this.produced.size;
  }

  /** Distinct records processed at least once. */
  get processedCount(): number {
    return this.processedCounts.size;
  }

  /** How many times the record was reported processed. */
  timesProcessed(id: string): number {
    return this.processedCounts.get(id) ?? 0;
  }

  get duplicates(): number {
    return this.duplicateCount;
  }

  /** First-time deliveries that came after a later record of the same partition key. */
  get outOfOrder(): number {
    return this.outOfOrderCount;
  }

  /** Produced records never processed. */
  get lost(): number {
    return this.produced.size - this.producedAndProcessed;
  }

  /** Resolves true once every produced record was processed, false after `timeoutMs`. */
  waitForAllProcessed(timeoutMs: number): Promise<boolean> {
    if (this.lost === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(wake);
    });
  }

  summary(): { produced: number; processed: number; lost: number; duplicates: number; outOfOrder: number } {
    return {
      produced: this.producedCount,
      processed: this.processedCount,
      lost: this.lost,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
    };
  }
}
