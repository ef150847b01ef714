import { describe, expect, it } from 'vitest';
import type { LeadershipRecord, WorkerRecord } from '../src/lease-table/lease.js';
import { LivenessGrants } from '../src/leadership/liveness-grants.js';
import { signed, verifyMessage } from '../src/coordination/message-auth.js';

const KEY = 'worker-key';
let seq = 0;
/** A liveness request as the worker sends it: numbered and signed with its key. */
function ask(workerId: string, key = KEY) {
  seq += 1;
  return signed({ workerId, seq }, key);
}

const NAMESPACE = 'app/stream';

function setUp(termNumber = 2) {
  let now = 1_000;
  const grants = new LivenessGrants({ grantValidForMs: 1_500, revokeAfterMs: 2_000, monotonicNow: () => now });
  const term: LeadershipRecord = { namespace: NAMESPACE, leaderId: 'leader', term: termNumber, heartbeat: 0 };
  return {
    grants,
    term,
    advance: (ms: number) => (now += ms),
  };
}

function natsWorker(workerId: string, grantTerm: number | undefined): WorkerRecord {
  return { namespace: NAMESPACE, workerId, heartbeat: 1, status: 'active', liveness: 'nats', grantTerm, startedAt: 0, host: undefined };
}

function tableWorker(workerId: string): WorkerRecord {
  return { ...natsWorker(workerId, undefined), liveness: 'table' };
}

describe('LivenessGrants', () => {
  it('grants nothing outside a term, its own grants never past the end of the term, and others’ their full validity', () => {
    const { grants, term } = setUp();
    expect(grants.grant(ask('w1'), KEY, 10_000)).toBeUndefined();
    grants.startTerm(term);
    expect(grants.grant(ask('w1'), KEY, 10_000)).toMatchObject({ granted: true, leaderId: 'leader', term: 2, validForMs: 1_500 });
    // A late renewal must not shorten other workers' grants (a successor waits before revoking them)...
    expect(grants.grant(ask('w1'), KEY, 400)).toMatchObject({ validForMs: 1_500 });
    // ...but the leader's own grant ends with its term: a successor revokes its predecessor at once.
    expect(grants.grant(ask('leader'), KEY, 400)).toMatchObject({ validForMs: 400 });
    expect(grants.grant(ask('w1'), KEY, 0)).toBeUndefined();
  });

  it('finds a worker of this term overdue only once its last grant is older than revokeAfterMs', () => {
    const { grants, term, advance } = setUp();
    grants.startTerm(term);
    grants.grant(ask('w1'), KEY, 10_000);
    advance(2_000);
    expect(grants.overdue([natsWorker('w1', 2)])).toEqual([]);
    advance(1);
    expect(grants.overdue([natsWorker('w1', 2)])).toEqual([{ workerId: 'w1', grantTerm: 2 }]);
    expect(grants.isAlive('w1')).toBe(false);
  });

  it('gives workers of an earlier term revokeAfterMs to switch, but the previous leader none', () => {
    const { grants, term, advance } = setUp();
    grants.startTerm(term);
    const workers = [natsWorker('old-leader', 1), natsWorker('w1', 1)];
    expect(grants.overdue(workers, 'old-leader')).toEqual([{ workerId: 'old-leader', grantTerm: 1 }]);
    advance(2_001);
    expect(grants.overdue(workers, 'old-leader').map((entry) => entry.workerId)).toEqual(['old-leader', 'w1']);
  });

  it('leaves table-mode workers, itself, and workers of a later term alone', () => {
    const { grants, term, advance } = setUp();
    grants.startTerm(term);
    advance(10_000);
    expect(grants.overdue([tableWorker('w1'), natsWorker('leader', 2), natsWorker('w2', 3)])).toEqual([]);
  });

  it('forgets every grant when the term ends', () => {
    const { grants, term } = setUp();
    grants.startTerm(term);
    grants.grant(ask('w1'), KEY, 10_000);
    grants.endTerm();
    expect(grants.isAlive('w1')).toBe(false);
    expect(grants.overdue([natsWorker('w1', 2)])).toEqual([]);
  });
});

describe('LivenessGrants: what it remembers', () => {
  it('forgets the grants of workers that are no longer listed', () => {
    const { grants, term, advance } = setUp();
    grants.startTerm(term);
    for (let i = 0; i < 500; i += 1) grants.grant(ask(`gone-${i}`), KEY, 10_000);
    grants.grant(ask('stays'), KEY, 10_000);
    // A grant still running is a promise, whatever a read says: kept until it is older than revokeAfterMs.
    grants.keepOnly(new Set(['stays']));
    expect(grants.size).toBe(501);
    advance(2_001);
    grants.keepOnly(new Set(['stays']));
    expect(grants.size).toBe(1);
    expect(grants.isAlive('stays')).toBe(false); // its last grant is older than revokeAfterMs too: listed, but overdue
  });
});

describe('LivenessGrants: who may ask', () => {
  it('grants only a request signed with the key the table holds, signs the grant with it, and refuses a replay', () => {
    const { grants, term } = setUp();
    grants.startTerm(term);
    const request = ask('w1');
    const reply = grants.grant(request, KEY, 10_000);
    expect(reply).toMatchObject({ granted: true, seq: request.seq });
    expect(verifyMessage(reply as { mac: string }, KEY)).toBe(true);
    expect(verifyMessage(reply as { mac: string }, 'another-key')).toBe(false);
    // The same request again (captured on the bus and resent), and one signed with another key.
    expect(grants.grant(request, KEY, 10_000)).toBeUndefined();
    expect(grants.grant(ask('w1', 'forger-key'), KEY, 10_000)).toBeUndefined();
    expect(grants.grant(ask('w1'), undefined, 10_000)).toBeUndefined();
    expect(grants.grant({ workerId: 'w1', seq: 10_000, mac: 'forged' }, KEY, 10_000)).toBeUndefined();
  });
});
