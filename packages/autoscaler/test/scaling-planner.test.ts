import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  InvalidScalingRulesError,
  planScaling,
  resolveScalingRules,
  shardCountSteps,
  simulate,
  syntheticTraffic,
  type ScalingRules,
  type TrafficMinute,
} from '../src/index.js';

const MINUTE = 60_000;
const NOW = Date.UTC(2026, 5, 1, 12);
const rules = resolveScalingRules();

/** `count` minutes ending before NOW, each needing `shards` shards by write records. */
function minutesNeeding(shards: readonly number[]): TrafficMinute[] {
  return shards.map((need, index) => ({
    at: NOW - (shards.length - index) * MINUTE,
    incomingBytes: need * 100 * 60,
    incomingRecords: need * 1_000 * 60,
  }));
}

const flat = (need: number, count: number) => minutesNeeding(Array.from({ length: count }, () => need));

describe('planScaling', () => {
  it('scales up at once when utilisation passes the up threshold, to the need plus headroom, at least one step', () => {
    const plan = planScaling({ now: NOW, openShards: 10, traffic: flat(9.5, 5), callTimes: [], rules });
    expect(plan.action).toBe('scale-up');
    // 9.5 × 1.15 = 10.9 → 11, raised to 10 × 1.2 = 12.
    expect(plan.steps).toEqual([12]);
    expect(plan.reasons[0]).toMatch(
      /^utilisation at or above 88 % for the last 1 minute\(s\); now utilisation 95 % \(need 9\.50 shards by write records, 10 open\)/,
    );
    expect(plan.reasons.at(-1)).toContain('raised to 12 to step at least 20 %');
  });

  it('holds in the band between the thresholds', () => {
    const plan = planScaling({ now: NOW, openShards: 10, traffic: flat(8, 60), callTimes: [], rules });
    expect(plan).toMatchObject({ action: 'hold', steps: [] });
    expect(plan.reasons[0]).toContain('within the band from 72 % to 88 %');
  });

  it('scales down only after the sustain window and the cooldown, and only by a step worth a call', () => {
    const low = flat(3, 30);
    expect(planScaling({ now: NOW, openShards: 10, traffic: low.slice(-5), callTimes: [], rules }).action).toBe('hold');
    const cooling = planScaling({ now: NOW, openShards: 10, traffic: low, callTimes: [], lastChangeAt: NOW - 5 * MINUTE, rules });
    expect(cooling.reasons.at(-1)).toContain('within downCooldownMinutes (15)');
    const plan = planScaling({ now: NOW, openShards: 10, traffic: low, callTimes: [], lastChangeAt: NOW - 20 * MINUTE, rules });
    // 3 × 1.15 = 3.45 → 4, at least half per call: 10 → 5 → 4.
    expect(plan).toMatchObject({ action: 'scale-down', steps: [5, 4], to: 4 });
    // 6.9 → 8 would save 2 of 10: less than 20 %? No: exactly 20 %, worth it; 7.2 → 9 is not.
    expect(planScaling({ now: NOW, openShards: 10, traffic: flat(7.1, 30), callTimes: [], rules }).action).toBe('hold');
  });

  it('plans only the calls left in the rolling 24 hours, and keeps one back from scaling down', () => {
    const calls = (count: number) => Array.from({ length: count }, (_, index) => NOW - (index + 1) * 60 * MINUTE);
    const up = planScaling({ now: NOW, openShards: 2, traffic: flat(30, 3), callTimes: calls(8), rules });
    expect(up.steps).toEqual([4, 8]);
    expect(up.reasons.at(-1)).toContain('only 2 UpdateShardCount calls left');
    const down = planScaling({ now: NOW, openShards: 64, traffic: flat(1, 30), callTimes: calls(8), rules });
    expect(down.steps).toEqual([32]);
    const none = planScaling({ now: NOW, openShards: 64, traffic: flat(1, 30), callTimes: calls(9), rules });
    expect(none.action).toBe('hold');
    expect(none.reasons.at(-1)).toContain('1 kept for scaling up');
    // Calls older than 24 hours no longer count.
    expect(
      planScaling({ now: NOW, openShards: 2, traffic: flat(30, 3), callTimes: calls(8).map((at) => at - 86_400_000), rules }).steps,
    ).toHaveLength(5);
  });

  it('holds whatever the traffic when switched off', () => {
    const plan = planScaling({ now: NOW, openShards: 4, traffic: flat(50, 5), callTimes: [], rules: { ...rules, enabled: false } });
    expect(plan).toMatchObject({ action: 'hold', reasons: ['autoscaling is switched off: the shard count is held'] });
  });

  it('scales up on sustained throttling, and says when the total need fits (a hot shard)', () => {
    const throttled = flat(5, 3).map((minute) => ({ ...minute, throttledPuts: 40 }));
    const plan = planScaling({ now: NOW, openShards: 10, traffic: throttled, callTimes: [], rules });
    expect(plan.action).toBe('hold');
    expect(plan.reasons.at(-1)).toContain('a hot shard');
  });

  it('rounds to a power of two when asked, within maxShards', () => {
    const powers = resolveScalingRules({ powerOfTwo: true, maxShards: 48 });
    expect(planScaling({ now: NOW, openShards: 16, traffic: flat(20, 2), callTimes: [], rules: powers }).steps).toEqual([32]);
    expect(planScaling({ now: NOW, openShards: 32, traffic: flat(40, 2), callTimes: [], rules: powers }).steps).toEqual([48]);
  });

  it('rejects rules that would oscillate or cannot hold, naming each', () => {
    expect(() => resolveScalingRules({ upThreshold: 0.6, downThreshold: 0.7, minShards: 5, maxShards: 2 })).toThrow(
      InvalidScalingRulesError,
    );
    try {
      resolveScalingRules({ upThreshold: 0.8, downThreshold: 0.8, headroom: 0.2, maxShards: 0 });
    } catch (error) {
      expect((error as InvalidScalingRulesError).issues).toEqual([
        'maxShards: must be a whole number from 1 to 100000; got 0',
        'maxShards: must be at least minShards (1); got 0',
        'downThreshold: must be 0 or more and below upThreshold (0.8), or scaling would oscillate; got 0.8',
        'headroom: a scaled stream runs at 1 ÷ (1 + headroom) = 0.833, which must be below upThreshold (0.8)',
      ]);
    }
  });

  const rulesArbitrary: fc.Arbitrary<ScalingRules> = fc
    .record({
      minShards: fc.integer({ min: 1, max: 8 }),
      extra: fc.integer({ min: 0, max: 200 }),
      maxCallsPer24Hours: fc.integer({ min: 2, max: 12 }),
      powerOfTwo: fc.boolean(),
      minStep: fc.constantFrom(0, 0.1, 0.2, 0.5),
    })
    .map(({ minShards, extra, ...rest }) => resolveScalingRules({ minShards, maxShards: minShards + extra, ...rest }));

  it('always plans steps Kinesis accepts, within the bounds and the calls left', () => {
    fc.assert(
      fc.property(
        rulesArbitrary,
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.double({ min: 0, max: 400, noNaN: true }), { minLength: 0, maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 30 * 60 }), { maxLength: 14 }),
        (rules, openShards, needs, callAgesMinutes) => {
          const callTimes = callAgesMinutes.map((age) => NOW - age * MINUTE);
          const plan = planScaling({ now: NOW, openShards, traffic: minutesNeeding(needs), callTimes, rules });
          const callsLeft = rules.maxCallsPer24Hours - callTimes.filter((at) => at > NOW - 86_400_000).length;
          expect(plan.steps.length).toBeLessThanOrEqual(Math.max(0, callsLeft));
          let previous = openShards;
          for (const step of plan.steps) {
            expect(step).toBeLessThanOrEqual(previous * 2);
            expect(step).toBeGreaterThanOrEqual(Math.ceil(previous / 2));
            expect(step).not.toBe(previous);
            previous = step;
          }
          if (plan.action === 'hold') expect(plan.steps).toEqual([]);
          else expect(plan.to).toBe(plan.steps.at(-1));
          if (plan.action === 'scale-down') expect(plan.steps.length).toBeLessThanOrEqual(callsLeft - rules.callsReservedForUp);
          if (plan.action !== 'hold' && openShards >= rules.minShards && openShards <= rules.maxShards) {
            expect(plan.to).toBeGreaterThanOrEqual(rules.minShards);
            expect(plan.to).toBeLessThanOrEqual(rules.maxShards);
          }
          expect(plan.reasons.length).toBeGreaterThan(0);
        },
      ),
    );
  });

  it('never scales down when every minute was at or above the down threshold', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 100 }),
        fc.array(fc.double({ min: 0.72, max: 3, noNaN: true }), { minLength: 1, maxLength: 40 }),
        (open, utilisations) => {
          const plan = planScaling({
            now: NOW,
            openShards: open,
            traffic: minutesNeeding(utilisations.map((u) => u * open)),
            callTimes: [],
            rules,
          });
          expect(plan.action).not.toBe('scale-down');
        },
      ),
    );
  });

  it('over simulated days never makes more calls than the 24-hour limit, and is rarely short of capacity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000 }), (seed) => {
        const traffic = syntheticTraffic({ seed, minutes: 3 * 1_440 });
        const result = simulate({ traffic, initialShards: 8, scaler: (view) => planScaling({ ...view, rules }).steps });
        expect(result.refusedCalls).toBe(0);
        expect(result.maxCallsIn24h).toBeLessThanOrEqual(rules.maxCallsPer24Hours);
        // A spike beyond the headroom while utilisation sits just under the up threshold is short
        // until the next step lands: minutes, never hours.
        expect(result.overCapacityMinutes).toBeLessThanOrEqual(10);
      }),
      { numRuns: 8 },
    );
  });
});

describe('shardCountSteps', () => {
  it('doubles up and halves down, the last step exact', () => {
    expect(shardCountSteps(3, 20)).toEqual([6, 12, 20]);
    expect(shardCountSteps(20, 3)).toEqual([10, 5, 3]);
    expect(shardCountSteps(7, 7)).toEqual([]);
  });
});
