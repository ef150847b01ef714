import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between one worker and NATS, so the runner can move that worker to a NATS server
 * the rest of the fleet cannot reach. It forwards every new connection to the current target;
 * `partition()` and `heal()` switch the target and drop the connections in place, so the
 * worker's client reconnects, through the proxy, to the other server.
 */
export class NatsPartitionProxy {
  private target: number;
  private readonly pairs = new Set<{ readonly client: Socket; readonly upstream: Socket }>();
  private partitioned = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly mainPort: number,
    private readonly isolatedPort: number,
  ) {
    this.target = mainPort;
    server.on('connection', (client) => this.forward(client));
  }

  /** Listens on a free loopback port, forwarding to `mainPort`. */
  static async start(mainPort: number, isolatedPort: number): Promise<NatsPartitionProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the NATS proxy has no port');
    return new NatsPartitionProxy(server, address.port, mainPort, isolatedPort);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get isPartitioned(): boolean {
    return this.partitioned;
  }

  /** From now on the worker reaches only the isolated server. */
  partition(): void {
    this.partitioned = true;
    this.target = this.isolatedPort;
    this.dropAll();
  }

  /** Back to the main server. */
  heal(): void {
    this.partitioned = false;
    this.target = this.mainPort;
    this.dropAll();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: Socket): void {
    const upstream = connect(this.target, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', drop);
      socket.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private dropAll(): void {
    for (const { client, upstream } of [...this.pairs]) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }
}
