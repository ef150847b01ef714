import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SHARD_LIMITS, planCapacity } from '../src/index.js';

describe('planCapacity', () => {
  it('sizes 1,000 devices × 10 records/s × 1 KB, read by 2 applications, with 20 % headroom: 12 shards, 16 as a power of two', () => {
    const plan = planCapacity({ producers: 1_000, recordsPerSecondEach: 10, recordBytes: 1_024, pollingConsumers: 2, headroom: 0.2 });
    expect(plan.recordsPerSecond).toBe(10_000);
    expect(plan.needs['write-records']).toBe(10);
    expect(plan.needs['write-bytes']).toBeCloseTo(9.766, 3);
    expect(plan.needs['read-bytes']).toBeCloseTo(9.766, 3);
    expect(plan.binding).toBe('write-records');
    expect(plan.shards).toBe(12);
    expect(plan.powerOfTwoShards).toBe(16);
    expect(plan.use.writeRecords).toBeCloseTo(10_000 / 12 / 1_000, 6);
    expect(plan.powerOfTwoUse.writeRecords).toBeCloseTo(0.625, 6);
    expect(plan.arithmetic).toContain('with 20 % headroom: 10 × 1.2 = 12 → 12 shards');
  });

  it('is bound by reads when many applications poll', () => {
    const plan = planCapacity({ producers: 100, recordsPerSecondEach: 1, recordBytes: 100 * 1024, pollingConsumers: 5, headroom: 0 });
    expect(plan.binding).toBe('read-bytes');
    expect(plan.shards).toBe(Math.ceil((100 * 100 * 5) / 2048));
  });

  it('always gives enough shards for every limit, and no more than headroom requires', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        fc.integer({ min: 1, max: 1024 * 1024 }),
        fc.integer({ min: 0, max: 10 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (producers, recordsPerSecondEach, recordBytes, pollingConsumers, headroom) => {
          const plan = planCapacity({ producers, recordsPerSecondEach, recordBytes, pollingConsumers, headroom });
          const { use, shards, powerOfTwoShards } = plan;
          const limit = 1 / (1 + headroom) + 1e-9;
          expect(Math.max(use.writeRecords, use.writeBytes, use.readBytes)).toBeLessThanOrEqual(limit);
          // One shard fewer would not leave the headroom (unless one shard is all it takes).
          if (shards > 1) {
            const fewer = plan.recordsPerSecond / (shards - 1) / SHARD_LIMITS.writeRecordsPerSecond;
            const fewerBytes = plan.bytesPerSecond / (shards - 1) / SHARD_LIMITS.writeBytesPerSecond;
            const fewerReads = (plan.bytesPerSecond * pollingConsumers) / (shards - 1) / SHARD_LIMITS.readBytesPerSecond;
            expect(Math.max(fewer, fewerBytes, fewerReads)).toBeGreaterThan(1 / (1 + headroom) - 1e-9);
          }
          expect(powerOfTwoShards).toBeGreaterThanOrEqual(shards);
          expect(powerOfTwoShards).toBeLessThan(2 * shards);
          expect(Math.log2(powerOfTwoShards) % 1).toBe(0);
        },
      ),
    );
  });
});
