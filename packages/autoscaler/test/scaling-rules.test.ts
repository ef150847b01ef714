import { describe, expect, it } from 'vitest';
import { InvalidScalingRulesError, resolveScalingRules, type ScalingRules } from '../src/index.js';

function ruleErrors(rules: Record<string, unknown>): readonly string[] {
  try {
    resolveScalingRules(rules as Partial<ScalingRules>);
  } catch (error) {
    if (error instanceof InvalidScalingRulesError) return error.issues;
    throw error;
  }
  return [];
}

describe('resolveScalingRules', () => {
  it('refuses a rule it does not know, naming it, instead of planning with the default', () => {
    const errors = ruleErrors({ upTreshold: 0.5, maxShards: 8 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^upTreshold: is not a scaling rule \(the rules are minShards, maxShards, .*upThreshold/);
  });

  it('refuses a switch given as anything but true or false', () => {
    expect(ruleErrors({ enabled: 0, powerOfTwo: 'yes' })).toEqual([
      'powerOfTwo: must be true or false; got yes',
      'enabled: must be true or false; got 0',
    ]);
  });

  it('keeps back all but one call for scaling up when fewer calls a day are allowed than the default reserve', () => {
    expect(resolveScalingRules({ maxCallsPer24Hours: 1 }).callsReservedForUp).toBe(0);
    expect(resolveScalingRules({ maxCallsPer24Hours: 2 }).callsReservedForUp).toBe(1);
    expect(ruleErrors({ maxCallsPer24Hours: 1, callsReservedForUp: 1 })).toEqual([
      'callsReservedForUp: must be below maxCallsPer24Hours (1); got 1',
    ]);
  });
});
