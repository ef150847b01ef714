import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';
import { sequenceNumber } from './records.js';

/** How the server answers SubscribeToShard. */
export type EventStreamAnswer =
  /** An empty event at once and every `eventEveryMs` after, until the client goes away. */
  | 'events'
  /** One empty event, then silence with the connection left open. */
  | 'first-event-only'
  /** The response headers, then silence: a half-answered request. */
  | 'headers-only';

/** One SubscribeToShard request the server received. */
export interface ServedSubscription {
  readonly shardId: string;
  /** The client closed the connection (or the server stopped). */
  closed: boolean;
}

/**
 * A Kinesis endpoint on 127.0.0.1 over plain HTTP/1.1 for the real SDK client: SubscribeToShard
 * is answered as `answer` says, in the event-stream encoding
 * (`application/vnd.amazon.eventstream`); every other operation answers `{}`.
 */
export class LoopbackEventStreamServer {
  readonly subscriptions: ServedSubscription[] = [];
  private server: Server | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: { readonly answer?: EventStreamAnswer; readonly eventEveryMs?: number } = {}) {}

  /** Listens on a free loopback port; resolves the endpoint URL. */
  async start(): Promise<string> {
    const server = createServer((request, response) => void this.handle(request, response));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Subscriptions whose connection is still open. */
  get openSubscriptions(): number {
    return this.subscriptions.filter((subscription) => !subscription.closed).length;
  }

  /** Closes every connection and stops listening. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.clear();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const target = String(request.headers['x-amz-target'] ?? '');
    if (!target.endsWith('.SubscribeToShard')) {
      response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      response.end('{}');
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { ShardId?: string };
    const subscription: ServedSubscription = { shardId: body.ShardId ?? '', closed: false };
    this.subscriptions.push(subscription);
    response.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
    const answer = this.options.answer ?? 'events';
    const sendEvent = () => response.write(emptySubscribeEvent());
    if (answer !== 'headers-only') sendEvent();
    const timer = answer === 'events' ? setInterval(sendEvent, this.options.eventEveryMs ?? 200) : undefined;
    if (timer) this.timers.add(timer);
    response.on('close', () => {
      subscription.closed = true;
      if (timer) {
        clearInterval(timer);
        this.timers.delete(timer);
      }
    });
  }
}

/** A SubscribeToShardEvent without records, caught up at the tip, as one event-stream message. */
function emptySubscribeEvent(): Buffer {
  const body = { Records: [], ContinuationSequenceNumber: sequenceNumber(0), MillisBehindLatest: 0 };
  return eventStreamMessage(
    { ':message-type': 'event', ':event-type': 'SubscribeToShardEvent', ':content-type': 'application/json' },
    Buffer.from(JSON.stringify(body)),
  );
}

/**
 * One message of the event-stream encoding with string headers: total and headers length, the
 * prelude's CRC32, the headers (name length, name, type 7 = string, value length, value), the
 * payload, and the CRC32 of all that came before.
 */
function eventStreamMessage(headers: Record<string, string>, payload: Buffer): Buffer {
  const headerBytes = Buffer.concat(
    Object.entries(headers).map(([name, value]) => {
      const nameBytes = Buffer.from(name, 'utf8');
      const valueBytes = Buffer.from(value, 'utf8');
      const header = Buffer.alloc(1 + nameBytes.length + 1 + 2 + valueBytes.length);
      let offset = header.writeUInt8(nameBytes.length, 0);
      offset += nameBytes.copy(header, offset);
      offset = header.writeUInt8(7, offset);
      offset = header.writeUInt16BE(valueBytes.length, offset);
      valueBytes.copy(header, offset);
      return header;
    }),
  );
  const prelude = Buffer.alloc(12);
  prelude.writeUInt32BE(12 + headerBytes.length + payload.length + 4, 0);
  prelude.writeUInt32BE(headerBytes.length, 4);
  prelude.writeUInt32BE(crc32(prelude.subarray(0, 8)), 8);
  const message = Buffer.concat([prelude, headerBytes, payload]);
  const messageCrc = Buffer.alloc(4);
  messageCrc.writeUInt32BE(crc32(message), 0);
  return Buffer.concat([message, messageCrc]);
}
