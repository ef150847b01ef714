import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbLeaseStore, leaseNamespace, type NamespaceSnapshot } from '@shoal/coordinator';
import type { LocalStack } from '@shoal/local-stack';
import type { WorkerProcessTarget } from './worker-process.js';

/** Reads a stream's lease table the way an operator would, to check who owns what. */
export class FleetView {
  private readonly client: DynamoDBClient;
  private readonly store: DynamoDbLeaseStore;
  private readonly namespace: string;

  /** Creates the lease table first if no worker has yet. */
  static async open(stack: LocalStack, target: WorkerProcessTarget): Promise<FleetView> {
    const view = new FleetView(stack, target);
    await view.store.ensureTable();
    return view;
  }

  private constructor(stack: LocalStack, target: WorkerProcessTarget) {
    this.client = new DynamoDBClient(stack.clientConfig('dynamodb'));
    this.store = new DynamoDbLeaseStore({ client: this.client, tableName: target.leaseTableName });
    this.namespace = leaseNamespace(target.applicationName, target.streamName);
  }

  read(): Promise<NamespaceSnapshot> {
    return this.store.readNamespace(this.namespace);
  }

  /** Leases per owner, sorted by owner id; unowned leases under `''`. */
  async leasesPerOwner(): Promise<Record<string, number>> {
    const { leases } = await this.read();
    const counts: Record<string, number> = {};
    for (const lease of leases) counts[lease.leaseOwner ?? ''] = (counts[lease.leaseOwner ?? ''] ?? 0) + 1;
    return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** Whether every lease is owned, by exactly these workers, each holding `count` (a count per worker: any of them). */
  async ownedEvenlyBy(workerIds: readonly string[], counts: readonly number[]): Promise<boolean> {
    const owners = await this.leasesPerOwner();
    return Object.keys(owners).length === workerIds.length && workerIds.every((id) => counts.includes(owners[id] ?? 0));
  }

  async leaderId(): Promise<string | undefined> {
    return (await this.read()).leadership?.leaderId;
  }

  close(): void {
    this.client.destroy();
  }
}
