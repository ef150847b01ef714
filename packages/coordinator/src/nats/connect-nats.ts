import { InvalidArgumentError } from '@shoal/processor-sdk';
import { connect, type NatsConnection, type Status } from '@nats-io/transport-node';
import type { Logger } from '../logger.js';
import { natsAuthOptions, type NatsAuthOptions } from './nats-auth.js';

export interface ConnectNatsOptions extends NatsAuthOptions {
  /** `host:port` or `nats://host:port`, one or several. */
  readonly servers: string | string[];
  /** Client name shown by the server's monitoring (e.g. the worker id). */
  readonly name?: string;
  readonly logger: Logger;
  /** Pause between attempts while no connection was ever made, and between reconnects. Default 1000. */
  readonly reconnectTimeWaitMs?: number;
  /** Longest wait for one server's handshake. Default 5000. */
  readonly connectTimeoutMs?: number;
}

/** `connecting`: no connection yet (or it was lost for good and is being redialled). */
export type NatsLinkState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

const DEFAULT_RECONNECT_TIME_WAIT_MS = 1_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DRAIN_TIMEOUT_MS = 2_000;

/**
 * Connects to NATS in the background and keeps trying forever; the worker never waits for it.
 * NATS carries events only, so everything that uses the link copes with `connection()` being
 * `undefined`.
 *
 * @example
 * ```ts
 * const link = connectNats({ servers: '127.0.0.1:4222', name: workerId, logger });
 * if (await link.ready(1_000)) link.connection()?.publish('shoal.app.events.joined', '{}');
 * await link.close();
 * ```
 */
export function connectNats(options: ConnectNatsOptions): NatsLink {
  return new NatsLink(options);
}

export class NatsLink {
  private readonly servers: string[];
  private readonly name: string | undefined;
  private readonly logger: Logger;
  private readonly reconnectTimeWaitMs: number;
  private readonly connectTimeoutMs: number;
  private readonly auth: ReturnType<typeof natsAuthOptions>;
  private current: NatsConnection | undefined;
  private linkState: NatsLinkState = 'connecting';
  private readonly waiters = new Set<(connected: boolean) => void>();
  private readonly connectionListeners = new Set<(connection: NatsConnection) => void>();
  private wakeRetry: (() => void) | undefined;
  private closed: Promise<void> | undefined;

  /** Prefer {@link connectNats}. Starts connecting at once. */
  constructor(options: ConnectNatsOptions) {
    this.servers = Array.isArray(options.servers) ? [...options.servers] : [options.servers];
    if (this.servers.length === 0) throw new InvalidArgumentError('connectNats: servers must name at least one server');
    this.name = options.name;
    this.logger = options.logger;
    this.reconnectTimeWaitMs = options.reconnectTimeWaitMs ?? DEFAULT_RECONNECT_TIME_WAIT_MS;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.auth = natsAuthOptions(options);
    void this.run();
  }

  get state(): NatsLinkState {
    return this.linkState;
  }

  /** The live connection, or `undefined` while not connected (before the first connect, during reconnects, after close). */
  connection(): NatsConnection | undefined {
    return this.linkState === 'connected' ? this.current : undefined;
  }

  /**
   * Calls `listener` with every new connection (now, if there is one). Subscriptions made on a
   * connection survive its reconnects; only a connection dialled afresh needs them again.
   */
  onConnection(listener: (connection: NatsConnection) => void): () => void {
    this.connectionListeners.add(listener);
    if (this.current && this.linkState !== 'closed') listener(this.current);
    return () => this.connectionListeners.delete(listener);
  }

  /** Resolves `true` once connected (at once if already), `false` after `timeoutMs` or on close. */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.linkState === 'connected') return Promise.resolve(true);
    if (this.linkState === 'closed') return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const settle = (connected: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(settle);
        resolve(connected);
      };
      const timer = setTimeout(() => settle(false), timeoutMs);
      this.waiters.add(settle);
    });
  }

  /** Stops reconnecting and drains the connection (bounded); idempotent. */
  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async doClose(): Promise<void> {
    const wasConnected = this.linkState === 'connected';
    this.setState('closed');
    this.wakeRetry?.();
    const nc = this.current;
    this.current = undefined;
    if (!nc || nc.isClosed()) return;
    if (wasConnected) {
      // drain() flushes through the server, which never answers while it is unreachable.
      const drained = await Promise.race([
        nc.drain().then(
          () => true,
          () => false,
        ),
        delay(DRAIN_TIMEOUT_MS).then(() => false),
      ]);
      if (drained) return;
    }
    await nc.close().catch(() => undefined);
  }

  private async run(): Promise<void> {
    let attempts = 0;
    while (!this.isClosing()) {
      let nc: NatsConnection;
      try {
        nc = await connect({
          ...this.auth,
          servers: this.servers,
          name: this.name,
          timeout: this.connectTimeoutMs,
          // After the first connection the client itself reconnects, forever.
          maxReconnectAttempts: -1,
          reconnectTimeWait: this.reconnectTimeWaitMs,
        });
      } catch (err) {
        attempts += 1;
        // The first failure is worth a warning; the rest repeat it every second.
        if (attempts === 1) this.logger.warn({ err, servers: this.servers }, 'nats unreachable, retrying in the background');
        else this.logger.debug({ err, attempts }, 'nats connect attempt failed');
        if (this.isClosing()) return;
        await this.pause(this.reconnectTimeWaitMs);
        continue;
      }
      if (this.isClosing()) {
        await nc.close().catch(() => undefined);
        return;
      }
      attempts = 0;
      this.current = nc;
      this.logger.info({ server: nc.getServer() }, 'nats connected');
      this.setState('connected');
      for (const listener of [...this.connectionListeners]) listener(nc);
      void this.watchStatus(nc);
      const err = await nc.closed();
      if (this.isClosing()) return;
      // Only an unexpected close gets here (e.g. the server rejected the credentials twice).
      this.current = undefined;
      this.setState('connecting');
      this.logger.warn({ err }, 'nats connection closed, dialling again');
      await this.pause(this.reconnectTimeWaitMs);
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    try {
      for await (const status of nc.status()) {
        if (this.current !== nc || this.linkState === 'closed') return;
        this.onStatus(status);
      }
    } catch (err) {
      this.logger.debug({ err }, 'nats status iterator ended');
    }
  }

  private onStatus(status: Status): void {
    switch (status.type) {
      case 'disconnect':
        this.setState('reconnecting');
        this.logger.warn({ server: status.server }, 'nats disconnected, reconnecting');
        break;
      case 'reconnect':
        this.logger.info({ server: status.server }, 'nats reconnected');
        this.setState('connected');
        break;
      case 'reconnecting':
        this.logger.debug('nats reconnect attempt');
        break;
      case 'staleConnection':
        this.logger.warn('nats connection stale, reconnecting');
        break;
      case 'ldm':
        this.logger.info({ server: status.server }, 'nats server entering lame duck mode');
        break;
      case 'error':
        this.logger.warn({ err: status.error }, 'nats server error');
        break;
      case 'slowConsumer':
        this.logger.warn({ subject: status.sub.getSubject(), pending: status.pending }, 'nats slow consumer');
        break;
      case 'close':
        this.logger.debug('nats connection closed');
        break;
      default:
        // ping, cluster updates, forced reconnects: routine
        this.logger.trace({ status: status.type }, 'nats status');
    }
  }

  /** Not narrowed by TypeScript across awaits, unlike a direct `linkState` comparison. */
  private isClosing(): boolean {
    return this.closed !== undefined;
  }

  private setState(state: NatsLinkState): void {
    this.linkState = state;
    if (state === 'connected' || state === 'closed') {
      for (const settle of [...this.waiters]) settle(state === 'connected');
    }
  }

  /** Waits before the next connect attempt; `close()` cuts it short. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeRetry = done;
    }).finally(() => {
      this.wakeRetry = undefined;
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
