import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * The client subscriptions go through when the options name none. Each open subscription holds
 * a connection for up to 5 minutes, and an HTTP/1.1 handler (`NodeHttpHandler`) allows 50
 * sockets by default: a worker with more leases would leave the rest unsubscribed, and its other
 * Kinesis calls without a socket. So from a client config the worker builds a client of its own
 * for subscriptions, HTTP/1.1 without a socket cap when the config asks for HTTP/1.1, the SDK's
 * default (HTTP/2, as AWS requires) otherwise. Given a ready client, it uses that one as it is.
 */
export function subscriptionClient(kinesis: KinesisClient | KinesisClientConfig): { client: KinesisClient; owned: boolean } {
  if (kinesis instanceof KinesisClient) return { client: kinesis, owned: false };
  const http1 = kinesis.requestHandler instanceof NodeHttpHandler;
  const requestHandler = http1
    ? new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: Infinity }, httpsAgent: { keepAlive: true, maxSockets: Infinity } })
    : kinesis.requestHandler;
  return { client: new KinesisClient({ ...kinesis, ...(requestHandler === undefined ? {} : { requestHandler }) }), owned: true };
}
