import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { connect, nanos, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LeaseStateSnapshot } from '@shoal/coordinator';
import {
  LEASE_STATE_MAX_AGE_MS,
  NatsLeaseStatePublisher,
  leaseStateBucket,
  leaseStateKey,
  leaseStateSubject,
  openLeaseStateBucket,
} from '@shoal/coordinator';
import { watchLeaseStates, type LeaseStateUpdate } from '@shoal/coordinator';
import { connectNats, type NatsLink } from '@shoal/coordinator';
import { closedPort } from './support/ports.js';
import { eventually } from './support/worker-harness.js';

// Real NATS with JetStream on loopback; these tests fail (never skip) when it does not answer.
const NATS_SERVER = '127.0.0.1:4222';
const STREAM = 'orders';

interface LogLine {
  level: number;
  msg: string;
  key?: string;
}

function capturingLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('lease state on NATS (real server)', () => {
  let nc: NatsConnection;
  let application: string;
  const cleanups: (() => Promise<unknown> | void)[] = [];

  beforeAll(async () => {
    nc = await connect({ servers: NATS_SERVER, timeout: 3_000, maxReconnectAttempts: 0 });
  });

  afterAll(async () => {
    await nc?.drain();
  });

  beforeEach(() => {
    application = `test-${randomUUID().slice(0, 8)}`;
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    try {
      const kv = await new Kvm(nc).open(leaseStateBucket(application));
      await kv.destroy();
    } catch {
      // the test created no bucket
    }
  });

  function link(servers = NATS_SERVER, logger: pino.Logger = capturingLogger().logger): NatsLink {
    const created = connectNats({ servers, name: `shoal-test-${application}`, logger });
    cleanups.push(() => created.close());
    return created;
  }

  function snapshot(leaseKey: string, state: string, extra: Partial<LeaseStateSnapshot> = {}): LeaseStateSnapshot {
    return {
      application,
      streamName: STREAM,
      leaseKey,
      shardId: leaseKey,
      workerId: 'worker-1',
      state,
      at: Date.now(),
      ...extra,
    };
  }

  it('publishes transitions in order and keeps the latest state of each lease in the bucket', async () => {
    const natsLink = link();
    expect(await natsLink.ready(5_000)).toBe(true);
    const publisher = NatsLeaseStatePublisher.create({ link: natsLink, application, logger: capturingLogger().logger });
    cleanups.push(() => publisher.close());

    const received: Msg[] = [];
    const sub = nc.subscribe(leaseStateSubject(application), {
      callback: (_err, msg) => {
        received.push(msg);
      },
    });
    cleanups.push(() => sub.unsubscribe());
    await nc.flush();

    const a = 'shardId-000000000000';
    const b = 'shardId-000000000001';
    const transitions = [
      snapshot(a, 'pending'),
      snapshot(b, 'pending'),
      snapshot(a, 'owned.processing', { leaseCounter: 1, checkpoint: 'TRIM_HORIZON' }),
      snapshot(b, 'owned.processing', { leaseCounter: 1 }),
      snapshot(a, 'draining', { reason: 'handed-off' }),
      snapshot(a, 'ended', { reason: 'handed-off', checkpoint: '49590338271490256608559692538361571095921575989136588898' }),
    ];
    for (const transition of transitions) publisher.publish(transition);

    await waitFor(() => received.length === transitions.length);
    expect(received.map((msg) => msg.json<LeaseStateSnapshot>())).toEqual(transitions);
    expect(received.map((msg) => msg.subject)).toEqual(transitions.map((t) => `shoal.${application}.lease.${t.shardId}`));

    const latest = new Map<string, LeaseStateSnapshot>();
    const watch = await watchLeaseStates({
      link: natsLink,
      application,
      logger: capturingLogger().logger,
      onUpdate: (update) => {
        if (update.type === 'state') latest.set(update.snapshot.leaseKey, update.snapshot);
      },
    });
    cleanups.push(() => watch.stop());
    await waitFor(() => latest.get(a)?.state === 'ended' && latest.get(b)?.state === 'owned.processing');
    expect(latest.get(a)).toEqual(transitions[5]);
    expect(latest.get(b)).toEqual(transitions[3]);

    // Later transitions reach a running watch too.
    publisher.publish(snapshot(b, 'draining', { reason: 'shutdown' }));
    await waitFor(() => latest.get(b)?.state === 'draining');

    const kv = await new Kvm(nc).open(leaseStateBucket(application));
    expect((await kv.status()).history).toBe(1);
  });

  it('never stores an older snapshot after a newer one for the same lease', async () => {
    const natsLink = link();
    expect(await natsLink.ready(5_000)).toBe(true);
    const publisher = NatsLeaseStatePublisher.create({ link: natsLink, application, logger: capturingLogger().logger });
    cleanups.push(() => publisher.close());
    const lease = 'shardId-000000000002';
    for (let i = 1; i <= 200; i++) publisher.publish(snapshot(lease, `owned.processing`, { leaseCounter: i }));
    await publisher.close();

    const kv = await new Kvm(nc).open(leaseStateBucket(application));
    const entry = await kv.get(leaseStateKey(STREAM, lease));
    expect(entry?.json<LeaseStateSnapshot>().leaseCounter).toBe(200);
  });

  it('purges the entry of a lease that is gone from the table, after any write of it under way', async () => {
    const natsLink = link();
    expect(await natsLink.ready(5_000)).toBe(true);
    const publisher = NatsLeaseStatePublisher.create({ link: natsLink, application, logger: capturingLogger().logger });
    cleanups.push(() => publisher.close());
    const kept = 'shardId-000000000003';
    const gone = 'shardId-000000000004';
    publisher.publish(snapshot(kept, 'owned.processing'));
    for (let i = 1; i <= 50; i++) publisher.publish(snapshot(gone, 'owned.processing', { leaseCounter: i }));
    publisher.publish(snapshot(gone, 'ended', { reason: 'shard-end' }));
    publisher.forget(STREAM, gone);
    await publisher.close();

    const kv = await new Kvm(nc).open(leaseStateBucket(application));
    expect(await kv.get(leaseStateKey(STREAM, gone))).toMatchObject({ operation: 'PURGE' });
    expect((await kv.get(leaseStateKey(STREAM, kept)))?.json<LeaseStateSnapshot>().state).toBe('owned.processing');
    const keys: string[] = [];
    for await (const key of await kv.keys()) keys.push(key);
    expect(keys).toEqual([leaseStateKey(STREAM, kept)]);
  });

  it('writes the state of each lease still held again before the bucket expires it, and lets go of those nobody holds', async () => {
    const natsLink = link();
    expect(await natsLink.ready(5_000)).toBe(true);
    const publisher = NatsLeaseStatePublisher.create({
      link: natsLink,
      application,
      logger: capturingLogger().logger,
      refreshIntervalMs: 150,
    });
    cleanups.push(() => publisher.close());
    publisher.publish(snapshot('shardId-000000000005', 'owned.processing'));
    publisher.publish(snapshot('shardId-000000000006', 'ended', { reason: 'released' }));
    const kv = await openLeaseStateBucket(nc, application);
    const revision = async (leaseKey: string) => (await kv.get(leaseStateKey(STREAM, leaseKey)))?.revision ?? 0;
    await eventually(async () => (await revision('shardId-000000000006')) > 0, 'both states are stored');
    const ended = await revision('shardId-000000000006');
    const before = await revision('shardId-000000000005');
    await eventually(async () => (await revision('shardId-000000000005')) > before, 'the held lease’s state is written again');
    expect(await revision('shardId-000000000006')).toBe(ended);
    // Entries expire after an hour without a write.
    const { streamInfo } = await kv.status();
    expect(streamInfo.config.max_age).toBe(nanos(LEASE_STATE_MAX_AGE_MS));
  });

  it('never writes again the state of a lease let go while NATS was down, over its next owner’s', async () => {
    const real = link();
    expect(await real.ready(5_000)).toBe(true);
    let down = false;
    const flaky = Object.create(real) as NatsLink;
    (flaky as { connection: NatsLink['connection'] }).connection = () => (down ? undefined : real.connection());
    const publisher = NatsLeaseStatePublisher.create({
      link: flaky,
      application,
      logger: capturingLogger().logger,
      refreshIntervalMs: 150,
    });
    cleanups.push(() => publisher.close());
    const kv = await openLeaseStateBucket(nc, application);
    const key = leaseStateKey(STREAM, 'shardId-000000000007');
    publisher.publish(snapshot('shardId-000000000007', 'owned.processing'));
    await eventually(async () => (await kv.get(key)) !== null, 'the first owner’s state is stored');
    down = true;
    publisher.publish(snapshot('shardId-000000000007', 'ended', { reason: 'handed-off' }));
    down = false;
    await kv.put(key, JSON.stringify(snapshot('shardId-000000000007', 'owned.processing', { workerId: 'worker-2' })));
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await kv.get(key))?.json<LeaseStateSnapshot>().workerId).toBe('worker-2');
  });

  it('gives a bucket made before entries expired an expiry when it is opened', async () => {
    await new Kvm(nc).create(leaseStateBucket(application), { history: 1 });
    const kv = await openLeaseStateBucket(nc, application);
    expect((await kv.status()).streamInfo.config.max_age).toBe(nanos(LEASE_STATE_MAX_AGE_MS));
  });

  it('ignores malformed entries in the bucket with a log', async () => {
    const { logger, lines } = capturingLogger();
    const updates: LeaseStateUpdate[] = [];
    const watch = await watchLeaseStates({ connection: nc, application, logger, onUpdate: (u) => updates.push(u) });
    cleanups.push(() => watch.stop());

    const kv = await new Kvm(nc).open(leaseStateBucket(application));
    await kv.put('orders.garbage', 'this is { not json');
    await kv.put('orders.not-a-snapshot', JSON.stringify({ state: 42 }));
    const good = snapshot('shardId-000000000003', 'owned.processing');
    await kv.put(leaseStateKey(STREAM, good.leaseKey), JSON.stringify(good));
    await kv.delete('orders.garbage');

    await waitFor(() => updates.some((u) => u.type === 'deleted'));
    expect(updates).toEqual([
      { type: 'state', key: leaseStateKey(STREAM, good.leaseKey), revision: 3, initial: false, snapshot: good },
      { type: 'deleted', key: 'orders.garbage', revision: 4, initial: false },
    ]);
    const ignored = lines.filter((line) => line.level === 40 && line.msg.includes('ignored'));
    expect(ignored.map((line) => line.key)).toEqual(['orders.garbage', 'orders.not-a-snapshot']);

    await watch.stop();
    await watch.stop();
  });

  it('neither throws nor blocks while NATS is unreachable, and closes promptly', async () => {
    const { logger, lines } = capturingLogger();
    const down = link(`127.0.0.1:${await closedPort()}`, logger);
    const publisher = NatsLeaseStatePublisher.create({ link: down, application, logger });
    const start = performance.now();
    for (let i = 0; i < 100; i++) publisher.publish(snapshot('shardId-000000000004', 'pending', { leaseCounter: i }));
    expect(performance.now() - start).toBeLessThan(200);
    expect(down.connection()).toBeUndefined();
    expect(await down.ready(300)).toBe(false);

    const closing = performance.now();
    await publisher.close();
    await Promise.all([down.close(), down.close()]);
    expect(performance.now() - closing).toBeLessThan(1_000);
    expect(down.state).toBe('closed');
    expect(await down.ready(1_000)).toBe(false);
    expect(lines.some((line) => line.level === 40 && line.msg.startsWith('nats unreachable'))).toBe(true);
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
  });

  it('starts while NATS is down, connects when it comes up, and reconnects after it restarts', async () => {
    const port = await closedPort();
    const { logger, lines } = capturingLogger();
    const natsLink = connectNats({ servers: `127.0.0.1:${port}`, logger, reconnectTimeWaitMs: 100 });
    cleanups.push(() => natsLink.close());
    const publisher = NatsLeaseStatePublisher.create({ link: natsLink, application, logger });
    cleanups.push(() => publisher.close());
    expect(await natsLink.ready(300)).toBe(false);
    publisher.publish(snapshot('shardId-000000000005', 'pending'));

    let server = startPrivateNats(port);
    cleanups.push(() => stopPrivateNats(server));
    expect(await natsLink.ready(10_000)).toBe(true);
    const first = natsLink.connection();
    expect(first).toBeDefined();

    await stopPrivateNats(server);
    await waitFor(() => natsLink.connection() === undefined);
    expect(natsLink.state).toBe('reconnecting');
    publisher.publish(snapshot('shardId-000000000005', 'owned.processing'));

    server = startPrivateNats(port);
    cleanups.push(() => stopPrivateNats(server));
    expect(await natsLink.ready(10_000)).toBe(true);
    // nats.js reconnects in place: the same connection object comes back.
    expect(natsLink.connection()).toBe(first);
    const messages = lines.map((line) => line.msg);
    expect(messages).toContain('nats disconnected, reconnecting');
    expect(messages).toContain('nats reconnected');
    expect(messages.filter((msg) => msg.startsWith('nats disconnected, lease state not'))).not.toHaveLength(0);

    // This server has no JetStream: the KV write fails and is logged with the lease key, once
    // for a burst of transitions.
    publisher.publish(snapshot('shardId-000000000005', 'draining'));
    publisher.publish(snapshot('shardId-000000000006', 'pending'));
    await publisher.close();
    const kvWarnings = lines.filter((line) => line.level === 40 && line.msg === 'lease state not stored in the kv bucket');
    expect(kvWarnings).toHaveLength(1);
    expect(kvWarnings[0]).toMatchObject({ leaseKey: 'shardId-000000000005' });
  });
});

/** A throwaway core-NATS server (no JetStream) that the test may stop and restart. */
function startPrivateNats(port: number): ChildProcess {
  return spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
}

async function stopPrivateNats(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  server.kill('SIGKILL');
  await exited;
}
