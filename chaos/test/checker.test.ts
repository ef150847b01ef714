import { describe, expect, it } from 'vitest';
import { checkChaosLog, parseLog, stallBoundMs } from '../src/index.js';
import { LogBuilder } from './log-builder.js';

const S = 'shardId-000000000000';

describe('checkChaosLog', () => {
  it('reports a clean run as clean', () => {
    const log = new LogBuilder().put(S, ['a', 1], ['b', 1]).at(1_000_100).process('w1', S, 1, ['a', 1], ['b', 1]);
    log.at(1_000_200).put(S, ['a', 2]).at(1_000_300).process('w1', S, 1, ['a', 2]);
    const report = checkChaosLog(log.end());
    expect(report).toMatchObject({
      produced: 3,
      processed: 3,
      lost: 0,
      duplicates: 0,
      orderViolations: 0,
      overlappingBatches: 0,
      staleCheckpointsAccepted: 0,
      passed: true,
    });
    expect(report.maxStallMs).toBe(100);
  });

  it('counts a record never processed as lost, and its shard as stalled until the end', () => {
    const log = new LogBuilder().put(S, ['a', 1], ['a', 2]).at(1_000_050).process('w1', S, 1, ['a', 1]).at(1_009_000);
    const report = checkChaosLog(log.end());
    expect(report.lost).toBe(1);
    expect(report.samples.lost).toEqual([{ key: 'a', n: 2, shard: S, putAt: 1_000_000 }]);
    expect(report.maxStallMs).toBe(8_950);
    expect(report.targets.lost.met).toBe(false);
    expect(report.passed).toBe(false);
  });

  it('counts repeats as duplicates, and those after an unclean event of the first processor separately', () => {
    const log = new LogBuilder().put(S, ['a', 1], ['a', 2], ['b', 1]).process('w1', S, 1, ['a', 1], ['a', 2]);
    log.event('sigkill', 'w1');
    log.at(1_003_000).process('w2', S, 2, ['a', 2], ['b', 1]);
    // w2 had no unclean event: its record processed again by w3 is a clean duplicate.
    log.at(1_004_000).process('w3', S, 3, ['b', 1]);
    const report = checkChaosLog(log.end());
    expect(report.duplicates).toBe(2);
    expect(report.duplicatesAfterUnclean).toBe(1);
    expect(report.samples.cleanDuplicates).toEqual([{ key: 'b', n: 1, first: 'w2', repeat: 'w3', at: 1_004_000 }]);
    expect(report.orderViolations).toBe(0);
  });

  it('treats a repeat as unclean only if the event hit the first processor, or the whole fleet, between the two', () => {
    const log = new LogBuilder().put(S, ['a', 1], ['b', 1], ['c', 1]);
    log.event('sigkill', 'w9'); // before the first processing, and another worker: irrelevant
    log.process('w1', S, 1, ['a', 1], ['b', 1], ['c', 1]);
    const pause = log.event('sigstop', 'w1', 5_000);
    log.process('w2', S, 2, ['a', 1]); // during w1's pause: unclean
    log.eventEnd(pause);
    log.life('w2', S, 2, 'leaseLost');
    log.process('w3', S, 3, ['a', 1]); // w2 lost its lease after processing: unclean
    log.event('nats-restart', 'nats-server', 1_000);
    log.process('w4', S, 4, ['b', 1]); // w1's processing, then a fleet-wide event: unclean
    const report = checkChaosLog(log.end());
    expect(report.duplicates).toBe(3);
    expect(report.duplicatesAfterUnclean).toBe(3);
  });

  it('makes an unclean event of the leader’s unclean for every worker, and a batch cut short unclean for its worker', () => {
    const log = new LogBuilder().put(S, ['a', 1], ['b', 1], ['c', 1]);
    log.process('w1', S, 1, ['a', 1]);
    log.event('sigkill-leader', 'w9', undefined, true);
    log.process('w2', S, 2, ['a', 1]); // w1 lost its grants with the leader: unclean
    log.process('w2', S, 2, ['b', 1]).batchEnd('w2', S, 2, 'aborted');
    log.process('w2', S, 2, ['b', 1]); // the batch was cut short: unclean
    log.process('w2', S, 2, ['c', 1]).batchEnd('w2', S, 2, 'ok');
    log.event('sigterm', 'w2', undefined, true); // a graceful stop, even of the leader, is clean
    log.process('w3', S, 3, ['c', 1]);
    const report = checkChaosLog(log.end());
    expect(report.duplicates).toBe(3);
    expect(report.duplicatesAfterUnclean).toBe(2);
    expect(report.samples.cleanDuplicates).toEqual([{ key: 'c', n: 1, first: 'w2', repeat: 'w3', at: 1_000_000 }]);
  });

  it('makes a refused checkpoint unclean for its worker: the batch comes again', () => {
    const log = new LogBuilder().put(S, ['a', 1], ['b', 1]);
    log.process('w1', S, 1, ['a', 1]).batchEnd('w1', S, 1, 'ok');
    log.result(log.attempt('w1', S, 1), 'w1', S, 1, 'refused');
    log.process('w1', S, 1, ['a', 1]); // redelivered after the refusal: unclean
    log.process('w1', S, 1, ['b', 1]).batchEnd('w1', S, 1, 'ok');
    log.result(log.attempt('w1', S, 1), 'w1', S, 1, 'applied');
    log.process('w1', S, 1, ['b', 1]); // nothing explains this one
    const report = checkChaosLog(log.end());
    expect(report.duplicates).toBe(2);
    expect(report.duplicatesAfterUnclean).toBe(1);
  });

  it('counts an order violation when a key skips ahead, but not the late record nor redelivery', () => {
    const log = new LogBuilder().put(S, ['a', 1], ['a', 2], ['a', 3], ['a', 4]);
    log.process('w1', S, 1, ['a', 1], ['a', 3]); // skips 2
    log.process('w1', S, 1, ['a', 2]); // late, first time: not counted again
    log.process('w2', S, 2, ['a', 2], ['a', 3], ['a', 4]); // redelivery, then the next record
    const report = checkChaosLog(log.end());
    expect(report.orderViolations).toBe(1);
    expect(report.samples.orderViolations).toEqual([{ key: 'a', n: 3, highestBefore: 1, worker: 'w1', shard: S, at: 1_000_000 }]);
    expect(report.duplicates).toBe(2);
    expect(report.lost).toBe(0);
  });

  it('counts batches whose side effects come after a higher epoch’s on the same shard as overlapping', () => {
    const log = new LogBuilder().put(S, ['a', 1], ['a', 2], ['a', 3]).put('other', ['b', 1]);
    log.process('w1', S, 4, ['a', 1]);
    log.process('w2', S, 5, ['a', 2]);
    log.process('w1', S, 4, ['a', 3], ['a', 2]); // one stale batch, two side effects
    log.process('w1', 'other', 1, ['b', 1]); // another shard: its own epochs
    const report = checkChaosLog(log.end());
    expect(report.overlappingBatches).toBe(1);
    expect(report.samples.overlappingBatches).toEqual([
      { shard: S, worker: 'w1', epoch: 4, batch: 3, at: 1_000_000, laterEpoch: 5, laterEpochWorker: 'w2' },
    ]);
    expect(report.targets.overlappingBatches.met).toBe(false);
  });

  it('counts a checkpoint applied after a higher epoch showed up for the shard as stale', () => {
    const log = new LogBuilder().put(S, ['a', 1]).process('w1', S, 1, ['a', 1]);
    const early = log.attempt('w1', S, 1); // sent before the next owner appears: fine even if it lands later
    log.life('w2', S, 2, 'initialize');
    const refused = log.attempt('w1', S, 1);
    log.result(refused, 'w1', S, 1, 'refused');
    const stale = log.attempt('w1', S, 1);
    log.result(early, 'w1', S, 1, 'applied');
    log.result(stale, 'w1', S, 1, 'applied');
    const report = checkChaosLog(log.end());
    expect(report.staleCheckpointsAccepted).toBe(1);
    expect(report.samples.staleCheckpoints).toEqual([{ id: stale, worker: 'w1', shard: S, epoch: 1, seq: '1', higherEpoch: 2 }]);
    expect(report.checkpoints).toEqual({ attempted: 3, applied: 2, refused: 1, failed: 0 });
  });

  it('finds the longest stall and names the event before it, and checks it against the worst injected bound', () => {
    const log = new LogBuilder().put(S, ['a', 1]).at(1_000_100).process('w1', S, 1, ['a', 1]);
    log.at(1_001_000).put(S, ['a', 2]);
    log.at(1_001_100).event('sigkill', 'w1');
    log.at(1_001_500).put(S, ['a', 3]);
    log.at(1_004_000).process('w2', S, 2, ['a', 2], ['a', 3]);
    const report = checkChaosLog(log.end());
    expect(report.maxStallMs).toBe(3_000);
    expect(report.maxStall).toMatchObject({ shard: S, fromMs: 1_001_000, toMs: 1_004_000, after: { kind: 'sigkill', target: 'w1' } });
    expect(report.maxStallByEvent).toEqual({ sigkill: 3_000 });
    expect(report.stallBoundKind).toBe('sigkill');
    expect(report.stallBoundMs).toBe(stallBoundMs('sigkill'));
    expect(report.targets.maxStallMs).toEqual({ value: 3_000, limit: stallBoundMs('sigkill'), met: 3_000 <= stallBoundMs('sigkill') });
  });

  it('attributes a stall to an event that came just after the shard’s last progress', () => {
    const log = new LogBuilder().put(S, ['a', 1], ['a', 2]).at(1_000_100).process('w1', S, 1, ['a', 1]);
    log.at(1_000_300).event('sigkill-leader', 'w1');
    log.at(1_002_600).process('w2', S, 2, ['a', 2]);
    const report = checkChaosLog(log.end());
    expect(report.maxStall?.after?.kind).toBe('sigkill-leader');
    expect(report.maxStall?.startedAfterEventMs).toBe(-200);
  });

  it('explains a stall by the event with the largest bound among those whose window covers it, held to the sum of their bounds', () => {
    const log = new LogBuilder().put(S, ['a', 1]).process('w1', S, 1, ['a', 1]);
    log.at(1_010_000).event('partition-worker', 'w1', 3_000);
    log.at(1_011_000).event('merge', 'x+y');
    const over = stallBoundMs('partition-worker') + 500;
    log
      .at(1_011_500)
      .put(S, ['a', 2])
      .at(1_011_500 + over)
      .process('w2', S, 2, ['a', 2]);
    // Long after every window: held to the steady-state bound.
    log
      .at(1_100_000)
      .put(S, ['a', 3])
      .at(1_100_000 + stallBoundMs('none') + 1)
      .process('w2', S, 2, ['a', 3]);
    const report = checkChaosLog(log.end());
    const [first, second] = report.samples.stalls;
    expect(first).toMatchObject({ ms: over, after: { kind: 'merge' }, explainedBy: { kind: 'partition-worker' } });
    expect(first?.boundMs).toBe(stallBoundMs('partition-worker') + stallBoundMs('merge'));
    expect(second).toMatchObject({ ms: stallBoundMs('none') + 1, explainedBy: undefined, boundMs: stallBoundMs('none') });
    expect(report.maxStallByEvent).toEqual({ 'partition-worker': over, none: stallBoundMs('none') + 1 });
    expect(report.stallsOverOwnBound).toBe(1);
    expect(report.samples.stallsOverOwnBound).toEqual([second]);
  });

  it('grows the bound of an event with a duration by that duration', () => {
    const log = new LogBuilder().put(S, ['a', 1]).process('w1', S, 1, ['a', 1]);
    log.event('kinesis-throttle', 'w1', 4_000);
    log.event('sigkill', 'w2');
    const report = checkChaosLog(log.end());
    expect(report.stallBoundKind).toBe('kinesis-throttle');
    expect(report.stallBoundMs).toBe(stallBoundMs('kinesis-throttle', 4_000));
    expect(stallBoundMs('kinesis-throttle', 4_000)).toBe(stallBoundMs('kinesis-throttle') + 4_000);
  });

  it('does not count a record processed before its put line as waiting', () => {
    const log = new LogBuilder().process('w1', S, 1, ['a', 1]).at(1_000_500).put(S, ['a', 1]);
    const report = checkChaosLog(log.end());
    expect(report).toMatchObject({ produced: 1, processed: 1, lost: 0, maxStallMs: 0, unknownRecords: 0 });
  });

  it('reads the log format it checks, skipping lines that are not its own', () => {
    const lines = new LogBuilder().put(S, ['a', 1]).process('w1', S, 1, ['a', 1]).end();
    const text = [...lines.map((line) => JSON.stringify(line)), 'not json', '{"t":"mystery","at":1}', ''].join('\n');
    const { lines: parsed, malformed } = parseLog(text);
    expect(parsed).toEqual(lines);
    expect(malformed).toBe(2);
    expect(checkChaosLog(parsed, malformed).malformedLines).toBe(2);
  });
});
