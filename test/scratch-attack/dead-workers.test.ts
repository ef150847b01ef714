import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DashboardModel } from '@shoal/cli';
import { DynamoDbLeaseStore, leaseNamespace, workerLiveReportSchema, workerReportSubject } from '@shoal/coordinator';
import { connect } from '@nats-io/transport-node';
import { expect, it } from 'vitest';
import { killAll, spawnWorkerProcess, type WorkerProcess } from '../support/worker-process.js';
import { eventually, useLocalStack } from '../support/worker-harness.js';

const local = useLocalStack();

it('dead workers leave neither dashboard entries nor worker rows', async () => {
  const stream = await local.createTestStream(2);
  const model = new DashboardModel({ application: stream.applicationName });
  const nc = await connect({ servers: '127.0.0.1:4222' });
  const seen = new Set<string>();
  nc.subscribe(workerReportSubject(stream.applicationName), {
    callback: (err, msg) => {
      if (err) return;
      const parsed = workerLiveReportSchema.safeParse(JSON.parse(new TextDecoder().decode(msg.data)));
      if (parsed.success) { model.applyWorkerReport(parsed.data); seen.add(parsed.data.workerId); }
    },
  });
  const live = await stream.createWorker({ workerId: 'live-1', nats: { servers: '127.0.0.1:4222' } });
  void live.run();
  const procs: WorkerProcess[] = [];
  const client = new DynamoDBClient(local.stack().clientConfig('dynamodb'));
  const store = new DynamoDbLeaseStore({ client, tableName: stream.leaseTableName });
  const ns = leaseNamespace(stream.applicationName, stream.streamName);
  try {
    for (const id of ['dead-1', 'dead-2', 'dead-3']) {
      const p = spawnWorkerProcess(local.stack(), stream, id, { natsUrl: 'nats://127.0.0.1:4222' });
      procs.push(p);
      await eventually(() => seen.has(id), `${id} reported`, 30_000);
      await eventually(async () => (await store.readNamespace(ns)).workers.some((w) => w.workerId === id), `${id} row`, 10_000);
      p.child.kill('SIGKILL');
      await p.exited;
    }
    const start = Date.now();
    let last = '';
    try {
      await eventually(async () => {
        const viewIds = model.view().workers.map((w) => w.workerId).sort();
        const rows = (await store.readNamespace(ns)).workers.map((w) => w.workerId).sort();
        last = `view=${JSON.stringify(viewIds)} rows=${JSON.stringify(rows)}`;
        return JSON.stringify(viewIds) === '["live-1"]' && JSON.stringify(rows) === '["live-1"]';
      }, 'only the live worker left', 60_000);
    } finally {
      console.log('after', Date.now() - start, 'ms:', last);
    }
    expect(last).toContain('rows=["live-1"]');
  } finally {
    await killAll(procs);
    await nc.close();
    client.destroy();
  }
}, 150_000);
