import { listShards, splitShard } from '@shoal/coordinator';
import { RecordLedger, produceRecords, uniqueName } from '@shoal/local-stack';
import { describe, expect, it } from 'vitest';
import { NATS_URL, useWorkerProcesses } from './support/fleet-processes.js';
import { eventually, type TestStream } from './support/worker-harness.js';

/**
 * Two consumer applications on one stream, each with its own fleet of worker processes: each
 * processes every record at its own pace, in per-key order, through a reshard of the stream,
 * and a crash in one changes nothing in the other's lease table.
 */
const { local, spawn, fleetView } = useWorkerProcesses();
const REDIS_URL = 'redis://127.0.0.1:6379';

/** Tells every one of `ledgers` of each record produced, so that two applications check the same records. */
class ProducedForAll extends RecordLedger {
  constructor(private readonly ledgers: readonly RecordLedger[]) {
    super();
  }

  override recordProduced(id: string, partitionKey: string): void {
    for (const ledger of this.ledgers) ledger.recordProduced(id, partitionKey);
  }
}

describe('independent applications on one stream', () => {
  it('each process every record in per-key order through a reshard, and a crash in one leaves the other alone', async () => {
    const stream = await local.createTestStream(4);
    const billing: TestStream = { ...stream, ledger: new RecordLedger() };
    const audit: TestStream = { ...stream, applicationName: uniqueName('audit'), ledger: new RecordLedger() };
    const [billingView, auditView] = await Promise.all([fleetView(billing), fleetView(audit)]);
    const fleetOptions = { natsUrl: NATS_URL, redisUrl: REDIS_URL };
    const billingWorkers = [spawn(billing, 'billing-a', fleetOptions), spawn(billing, 'billing-b', fleetOptions)];
    spawn(audit, 'audit-a', fleetOptions);
    spawn(audit, 'audit-b', fleetOptions);
    await eventually(() => billingView.ownedEvenlyBy(['billing-a', 'billing-b'], [2]), 'billing holds its 4 leases 2 and 2', 30_000);
    await eventually(() => auditView.ownedEvenlyBy(['audit-a', 'audit-b'], [2]), 'audit holds its 4 leases 2 and 2', 30_000);

    const produce = (idPrefix: string) =>
      produceRecords({
        kinesis: local.stack().kinesis,
        streamName: stream.streamName,
        count: 1_500,
        batchSize: 25,
        pauseMs: 20,
        keyCount: 64,
        idPrefix,
        ledger: new ProducedForAll([billing.ledger, audit.ledger]),
      });
    const beforeSplit = produce('before-split');

    // A crash in billing: its leases fail over within billing; audit's lease table does not move.
    const auditBefore = (await auditView.read()).leases.map(({ leaseKey, leaseOwner, leaseCounter }) => ({
      leaseKey,
      leaseOwner,
      leaseCounter,
    }));
    await eventually(() => billing.ledger.processedCount > 200, 'billing is processing');
    billingWorkers[0]!.child.kill('SIGKILL');
    await eventually(async () => (await billingView.leasesPerOwner())['billing-b'] === 4, 'billing-b took every billing lease', 30_000);
    const auditAfter = (await auditView.read()).leases.map(({ leaseKey, leaseOwner, leaseCounter }) => ({
      leaseKey,
      leaseOwner,
      leaseCounter,
    }));
    expect(auditAfter).toEqual(auditBefore);

    // A reshard of the stream under both: each follows the lineage on its own.
    const [toSplit] = (await listShards(local.stack().kinesis, stream.streamName)).filter(
      (shard) => shard.endingSequenceNumber === undefined,
    );
    await beforeSplit;
    await splitShard(local.stack().kinesis, stream.streamName, toSplit!.shardId);
    await produce('after-split');

    for (const [name, application] of [
      ['billing', billing],
      ['audit', audit],
    ] as const) {
      expect(await application.ledger.waitForAllProcessed(60_000), `${name} processed every record`).toBe(true);
      expect(application.ledger.summary(), name).toMatchObject({ produced: 3_000, lost: 0, outOfOrder: 0 });
    }
    // Each fleet kept to its own namespace: its workers, and its own lease per shard (4, then 6 after the split).
    await eventually(
      async () => (await billingView.read()).leases.length === 6 && (await auditView.read()).leases.length === 6,
      'both have the children',
    );
    const [billingTable, auditTable] = await Promise.all([billingView.read(), auditView.read()]);
    expect(new Set(billingTable.workers.map((worker) => worker.workerId))).toEqual(new Set(['billing-b']));
    expect(new Set(auditTable.workers.map((worker) => worker.workerId))).toEqual(new Set(['audit-a', 'audit-b']));
    expect(audit.ledger.duplicates).toBe(0);
  });
});
