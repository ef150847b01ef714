import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NatsLeaseStatePublisher, connectNats, leaseStateBucket, type LeaseStateSnapshot } from '@shoal/coordinator';
import { closedPort } from './support/ports.js';

// Real NATS with JetStream on loopback; these tests fail (never skip) when it does not answer.
const NATS_URL = 'nats://127.0.0.1:4222';
const STREAM = 'orders';
// The CLI runs as a child process from its build (`tsc -b`), like an operator would run it.
const SHOAL_BIN = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));

interface ShoalProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly stderr: () => string;
  /** Resolves with the exit code (or the signal that ended it). */
  readonly exited: Promise<number | NodeJS.Signals>;
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Splits a table row into its cells (columns are at least two spaces apart). */
function cells(line: string | undefined): string[] {
  return (line ?? '').split(/\s{2,}/);
}

describe('shoal watch (built CLI against real NATS)', () => {
  let nc: NatsConnection;
  let application: string;
  const children: ChildProcess[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    if (!existsSync(SHOAL_BIN)) throw new Error(`${SHOAL_BIN} is missing: build the workspace first (tsc -b)`);
    nc = await connect({ servers: NATS_URL, timeout: 3_000, maxReconnectAttempts: 0 });
  });

  afterAll(async () => {
    await nc?.drain();
  });

  beforeEach(() => {
    application = `test-cli-${randomUUID().slice(0, 8)}`;
  });

  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    try {
      await (await new Kvm(nc).open(leaseStateBucket(application))).destroy();
    } catch {
      // the test created no bucket
    }
  });

  function shoal(...args: string[]): ShoalProcess {
    const child = spawn(process.execPath, [SHOAL_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | NodeJS.Signals>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal!)));
    return { child, lines, stderr: () => stderr, exited };
  }

  /** Publishes transitions the way a worker does, and waits until they are in the bucket. */
  async function publisher(): Promise<{ publish: (...snapshots: LeaseStateSnapshot[]) => Promise<void> }> {
    const logger = pino({ level: 'silent' });
    const link = connectNats({ servers: NATS_URL, name: `shoal-test-${application}`, logger });
    cleanups.push(() => link.close());
    expect(await link.ready(5_000)).toBe(true);
    return {
      async publish(...snapshots) {
        const published = NatsLeaseStatePublisher.create({ link, application, logger });
        for (const snapshot of snapshots) published.publish(snapshot);
        await published.close();
      },
    };
  }

  function snapshot(shardId: string, workerId: string, state: string, extra: Partial<LeaseStateSnapshot> = {}): LeaseStateSnapshot {
    return { application, streamName: STREAM, leaseKey: shardId, shardId, workerId, state, at: Date.now(), ...extra };
  }

  it('--once prints every lease sorted by shard id with a summary, and exits 0', async () => {
    const { publish } = await publisher();
    await publish(
      snapshot('shardId-000000000002', 'worker-b', 'owned.processing', { leaseCounter: 3, checkpoint: 'TRIM_HORIZON' }),
      snapshot('shardId-000000000000', 'worker-a', 'pending'),
      snapshot('shardId-000000000000', 'worker-a', 'owned.processing', {
        leaseCounter: 7,
        checkpoint: '49590338271490256608559692538361571095921575989136588898',
      }),
      snapshot('shardId-000000000001', 'worker-a', 'ended', { reason: 'shard-end', leaseCounter: 2, checkpoint: 'SHARD_END' }),
    );

    const run = shoal('watch', '--application', application, '--nats', NATS_URL, '--once');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toBe('');
    expect(run.lines).toHaveLength(5);
    expect(cells(run.lines[0])).toEqual(['SHARD', 'STATE', 'OWNER', 'COUNTER', 'CHECKPOINT', 'AGE']);
    expect(run.lines.slice(1, 4).map((line) => cells(line).slice(0, 5))).toEqual([
      ['shardId-000000000000', 'owned.processing', 'worker-a', '7', '49590338271490256608559692538361571095921575989136588898'],
      ['shardId-000000000001', 'ended (shard-end)', 'worker-a', '2', 'SHARD_END'],
      ['shardId-000000000002', 'owned.processing', 'worker-b', '3', 'TRIM_HORIZON'],
    ]);
    for (const line of run.lines.slice(1, 4)) expect(cells(line)[5]).toMatch(/^\d+(ms|\.\ds)$/);
    expect(run.lines[4]).toBe('3 leases | workers: worker-a=1 worker-b=1 | states: ended=1 owned.processing=2');
  });

  it('--once on an application with no leases prints an empty table and exits 0', async () => {
    const run = shoal('watch', '--application', application, '--once');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toBe('');
    expect(run.lines).toEqual(['SHARD  STATE  OWNER  COUNTER  CHECKPOINT  AGE', '0 leases | workers: none | states: none']);
  });

  it('--once still ends when the newest entry in the bucket is not a lease snapshot', async () => {
    const { publish } = await publisher();
    await publish(snapshot('shardId-000000000000', 'worker-a', 'owned.processing'));
    await (await new Kvm(nc).open(leaseStateBucket(application))).put(`${STREAM}.garbage`, 'not a snapshot');

    const run = shoal('watch', '--application', application, '--once');
    expect(await run.exited).toBe(0);
    expect(run.lines.at(-1)).toBe('1 lease | workers: worker-a=1 | states: owned.processing=1');
  });

  it('--json prints a line with the fleet, another on each change, and exits 0 on SIGTERM', async () => {
    const { publish } = await publisher();
    await publish(snapshot('shardId-000000000000', 'worker-a', 'owned.processing', { leaseCounter: 1 }));

    const run = shoal('watch', '--application', application, '--json');
    await waitFor(() => run.lines.length >= 1);
    const first = JSON.parse(run.lines[0]!) as { application: string; leases: LeaseStateSnapshot[]; summary: unknown };
    expect(first.application).toBe(application);
    expect(first.leases.map((l) => [l.shardId, l.state, l.workerId])).toEqual([['shardId-000000000000', 'owned.processing', 'worker-a']]);
    expect(first.summary).toEqual({ leases: 1, workers: { 'worker-a': 1 }, states: { 'owned.processing': 1 } });

    await publish(
      snapshot('shardId-000000000000', 'worker-a', 'draining', { leaseCounter: 1, reason: 'handed-off' }),
      snapshot('shardId-000000000001', 'worker-b', 'pending'),
    );
    // The two puts may land in either order, so a line may show only one of them first.
    const expected = { leases: 2, workers: { 'worker-a': 1, 'worker-b': 1 }, states: { draining: 1, pending: 1 } };
    const summaries = (): string[] => run.lines.map((line) => JSON.stringify((JSON.parse(line) as { summary: unknown }).summary));
    await waitFor(() => summaries().includes(JSON.stringify(expected)));

    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toBe('');
  });

  it('fails with exit code 1 and names the URL when NATS is unreachable', async () => {
    const url = `nats://127.0.0.1:${await closedPort()}`;
    const run = shoal('watch', '--application', application, '--nats', url, '--connect-timeout-ms', '500', '--once');
    expect(await run.exited).toBe(1);
    expect(run.lines).toEqual([]);
    expect(run.stderr()).toContain(`cannot reach NATS at ${url} within 500 ms`);
  });

  it('rejects a bad option before connecting, naming it', async () => {
    const run = shoal('watch', '--application', application, '--connect-timeout-ms', 'soon');
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain("option '--connect-timeout-ms <ms>' argument 'soon' is invalid");
  });
});
