/**
 * A fleet at scale: 10,000 leases on 100 workers (default timings, coordination bus on the
 * shared NATS server, no records).
 * - `coldStartMs`: 100 in-process workers start at once on an empty lease table; until every
 *   lease is owned and running. The leader creates the leases and plans; members take them.
 * - `joinBalanceMs`: a 101st worker (its own OS process) joins; from its `worker-joined` until the
 *   fleet is balanced (every worker 99 or 100 leases), with `joinMoves` leases moved (the least
 *   possible is the newcomer's share, 99).
 * - `failoverMs`: the 101st worker gets SIGKILL; until its leases run on the others again.
 * - `maxMessageBytes`: the largest message on the fleet's subjects (and their replies) during the
 *   whole run, against the server's `max_payload` (1 MiB by default).
 * Targets: cold start ≤ 60 s, join ≤ 5 s, failover ≤ 5 s, largest message ≤ 1 MiB.
 *
 * The 10,000 leases are 100 streams of 100 shards consumed by one application: kinesalite keeps
 * a stream's description in one JSON document that it parses on every call, so one stream of
 * 10,000 shards would measure the emulator. Coordination is the same either way: one namespace
 * of 10,000 leases, one leader, plans over 10,000 leases. Idle shards are polled at most every
 * 30 s here (retrieval settings only, which touch Kinesis, not the lease table), so that two
 * cores can host 100 workers and the emulators.
 *
 * Environment: FLEET_SCALE_STREAMS (100), FLEET_SCALE_SHARDS (per stream, 100), FLEET_SCALE_WORKERS (100).
 */
import { connectNats, coordinationSubjects, type NatsLink } from '@shoal/coordinator';
import { LocalStack } from '@shoal/local-stack';
import { pino } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { NATS_URL, WorkerProcess, leasesPerOwner } from './fleet-processes.js';
import { createInProcessWorker, newMultiStreamTarget, stopAll, type InProcessWorker } from './in-process-fleet.js';
import { printTable, sourceState, writeResult } from './report.js';

const STREAMS = Number(process.env.FLEET_SCALE_STREAMS ?? 100);
const SHARDS_PER_STREAM = Number(process.env.FLEET_SCALE_SHARDS ?? 100);
const WORKERS = Number(process.env.FLEET_SCALE_WORKERS ?? 100);
const LEASES = STREAMS * SHARDS_PER_STREAM;
const IDLE_POLLING = { idleTimeBetweenReadsMs: 30_000, maxIdleTimeBetweenReadsMs: 30_000 };
const TARGETS = { coldStartMs: 60_000, joinBalanceMs: 5_000, failoverMs: 5_000, maxMessageBytes: 1024 * 1024 };
const PHASE_TIMEOUT_MS = 600_000;

/** The largest message seen on the fleet's subjects and on reply inboxes, and how many there were. */
class BusMeter {
  maxBytes = 0;
  maxSubject = '';
  messages = 0;
  readonly joined = new Map<string, number>();

  constructor(
    private readonly link: NatsLink,
    application: string,
  ) {
    const connection = link.connection()!;
    const root = coordinationSubjects(application).events.replace(/\.events\.>$/u, '');
    for (const subject of [`${root}.>`, '_INBOX.>']) {
      connection.subscribe(subject, {
        callback: (_error, msg) => {
          this.messages += 1;
          if (msg.data.length > this.maxBytes) {
            this.maxBytes = msg.data.length;
            this.maxSubject = msg.subject.startsWith('_INBOX.') ? 'a reply' : msg.subject.slice(root.length + 1);
          }
          if (msg.subject.endsWith('.events.worker-joined')) {
            const { workerId } = JSON.parse(new TextDecoder().decode(msg.data)) as { workerId: string };
            this.joined.set(workerId, Date.now());
          }
        },
      });
    }
  }

  close(): Promise<void> {
    return this.link.close();
  }
}

/** Which in-process worker runs each lease (machine state `owned.*`). */
function runningOwners(fleet: readonly InProcessWorker[]): Map<string, string> {
  const owners = new Map<string, string>();
  for (const { workerId, worker } of fleet) {
    for (const lease of worker.leases()) if (lease.state.startsWith('owned')) owners.set(lease.leaseKey, workerId);
  }
  return owners;
}

async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  intervalMs = 100,
  progress?: () => string,
): Promise<number> {
  const startedAt = Date.now();
  let reportedAt = startedAt;
  while (!(await condition())) {
    if (Date.now() - startedAt > PHASE_TIMEOUT_MS) throw new Error(`fleet-scale: timed out waiting for ${what}`);
    if (progress && Date.now() - reportedAt >= 5_000) {
      reportedAt = Date.now();
      process.stdout.write(`  ${((reportedAt - startedAt) / 1000).toFixed(0)} s: ${progress()}\n`);
    }
    await sleep(intervalMs);
  }
  return Date.now();
}

export async function run(): Promise<void> {
  await using stack = await LocalStack.start({ shardLimit: LEASES + 100 });
  const logger = pino({ level: process.env.BENCH_WORKER_LOG_LEVEL ?? 'error' });
  const { target, view } = await newMultiStreamTarget(stack, 'scale', STREAMS, SHARDS_PER_STREAM);
  const meterLink = connectNats({ servers: NATS_URL.replace('nats://', ''), name: 'fleet-scale-meter', logger });
  if (!(await meterLink.ready(5_000))) throw new Error(`fleet-scale: NATS at ${NATS_URL} does not answer`);
  const meter = new BusMeter(meterLink, target.applicationName);
  process.stdout.write(`${STREAMS} streams × ${SHARDS_PER_STREAM} shards created; starting ${WORKERS} workers\n`);

  const fleet: InProcessWorker[] = [];
  let newcomer: WorkerProcess | undefined;
  try {
    const created = [];
    for (let index = 0; index < WORKERS; index += 1) {
      created.push(
        await createInProcessWorker(stack, target, `scale-${String(index).padStart(3, '0')}`, logger, { retrieval: IDLE_POLLING }),
      );
    }
    fleet.push(...created);

    // Cold start: every worker at once on an empty table.
    const coldStartAt = Date.now();
    for (const worker of created) worker.start();
    const coldStartEnd = await until(
      () => runningOwners(fleet).size === LEASES,
      `all ${LEASES} leases running`,
      250,
      () => {
        const calls = new Map<string, number>();
        for (const { meter: workerMeter } of fleet) {
          for (const [operation, count] of workerMeter.calls) calls.set(operation, (calls.get(operation) ?? 0) + count);
        }
        const tally = [...calls].map(([operation, count]) => `${operation} ${count}`).join(', ');
        return `${runningOwners(fleet).size} leases running; DynamoDB calls so far: ${tally}`;
      },
    );
    const coldStartMs = coldStartEnd - coldStartAt;
    process.stdout.write(`cold start: ${coldStartMs} ms\n`);
    await sleep(10_000);
    const before = runningOwners(fleet);

    // A 101st worker joins, in its own process (so it can be killed afterwards).
    const newcomerId = `scale-${String(WORKERS).padStart(3, '0')}`;
    newcomer = WorkerProcess.spawn(stack, target, newcomerId, undefined);
    await until(() => meter.joined.has(newcomerId), `${newcomerId} to join`);
    const joinedAt = meter.joined.get(newcomerId)!;
    const share = Math.floor(LEASES / (WORKERS + 1));
    // Balanced: the newcomer owns its share in the table, and every other lease runs in-process, none above the share + 1.
    const joinEnd = await until(async () => {
      const owners = runningOwners(fleet);
      const counts = new Map<string, number>();
      for (const owner of owners.values()) counts.set(owner, (counts.get(owner) ?? 0) + 1);
      if (!fleet.every(({ workerId }) => (counts.get(workerId) ?? 0) <= share + 1)) return false;
      const newcomerOwns = await view.ownedCount(newcomerId);
      return newcomerOwns >= share && newcomerOwns + owners.size === LEASES;
    }, 'the fleet to balance with the newcomer');
    const joinBalanceMs = joinEnd - joinedAt;
    const after = runningOwners(fleet);
    const joinMoves = [...before].filter(([leaseKey, owner]) => after.get(leaseKey) !== owner).length;
    const newcomerHolds = leasesPerOwner(await view.read()).get(newcomerId) ?? 0;
    process.stdout.write(`join: ${joinBalanceMs} ms, ${joinMoves} moves (newcomer holds ${newcomerHolds})\n`);
    await sleep(10_000);

    // The newcomer dies.
    const killedAt = Date.now();
    newcomer.kill('SIGKILL');
    const failoverEnd = await until(() => runningOwners(fleet).size === LEASES, 'the dead worker’s leases to run elsewhere');
    const failoverMs = failoverEnd - killedAt;
    process.stdout.write(`failover: ${failoverMs} ms\n`);

    const figures = { coldStartMs, joinBalanceMs, joinMoves, failoverMs, maxMessageBytes: meter.maxBytes };
    printTable(
      `fleet-scale: ${LEASES} leases (${STREAMS} streams × ${SHARDS_PER_STREAM} shards, one application), ${WORKERS} in-process workers + 1 worker process, default timings, coordination bus; no records`,
      [
        ['figure', 'value', 'target'],
        ['cold start ms', coldStartMs, `≤ ${TARGETS.coldStartMs}`],
        ['join → balanced ms', joinBalanceMs, `≤ ${TARGETS.joinBalanceMs}`],
        ['join moves', joinMoves, `${share} (the newcomer's share)`],
        ['failover ms', failoverMs, `≤ ${TARGETS.failoverMs}`],
        ['largest bus message bytes', meter.maxBytes, `≤ ${TARGETS.maxMessageBytes}`],
        ['largest message was', meter.maxSubject, ''],
        ['bus messages', meter.messages, ''],
      ],
    );
    writeResult('fleet-scale', {
      source: sourceState(),
      leases: LEASES,
      streams: STREAMS,
      shardsPerStream: SHARDS_PER_STREAM,
      workers: WORKERS,
      ...figures,
      minimumJoinMoves: share,
      newcomerHolds,
      largestMessage: meter.maxSubject,
      busMessages: meter.messages,
      met:
        coldStartMs <= TARGETS.coldStartMs &&
        joinBalanceMs <= TARGETS.joinBalanceMs &&
        failoverMs <= TARGETS.failoverMs &&
        meter.maxBytes <= TARGETS.maxMessageBytes,
      target: TARGETS,
      timings: 'production defaults; idle shards polled every 30 s',
    });
  } finally {
    newcomer?.kill('SIGKILL');
    await stopAll(fleet);
    await meter.close();
  }
}
