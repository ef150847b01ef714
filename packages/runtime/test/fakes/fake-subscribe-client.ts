import {
  SubscribeToShardCommand,
  type KinesisClient,
  type SubscribeToShardCommandInput,
  type SubscribeToShardEvent,
  type SubscribeToShardEventStream,
  type _Record,
} from '@aws-sdk/client-kinesis';
import { sequenceNumber } from './records.js';

/** How a subscribe call answers: with an event stream, an error, or not until it is aborted. */
export type SubscribeAnswer = 'stream' | 'hang' | Error;

/** What one read of a subscription's event stream gives. */
export type EventPull =
  /** An event, after `delayMs` (default: at once). */
  | { readonly event: SubscribeToShardEvent; readonly delayMs?: number }
  /** The stream ends cleanly. */
  | { readonly end: true }
  /** The stream fails with `error` (an error event, a broken connection). */
  | { readonly error: Error }
  /** Nothing more arrives until the request is aborted. */
  | { readonly hang: true };

/** One SubscribeToShard call the fake received. */
export interface FakeSubscription {
  /** Its place among the calls, from 0. */
  readonly index: number;
  readonly input: SubscribeToShardCommandInput;
  /** Events read from its stream so far. */
  pulls: number;
  /** Whether the caller aborted the request. */
  aborted: boolean;
}

/**
 * Stands in for the Kinesis client SubscribeToShard is sent with. `onSubscribe` decides how each
 * call answers; `onPull` makes each event of a stream when it is read, so a reader that stops
 * reading holds the "server" back, as HTTP flow control would. Every other command goes to
 * `other`, by command name.
 */
export class FakeSubscribeClient {
  readonly subscriptions: FakeSubscription[] = [];
  onSubscribe: (subscription: FakeSubscription) => SubscribeAnswer = () => 'stream';
  onPull: (subscription: FakeSubscription, pull: number) => EventPull = () => ({ hang: true });
  other: (commandName: string, input: Record<string, unknown>) => Promise<unknown> = async (commandName) => {
    throw new Error(`FakeSubscribeClient does not answer ${commandName}`);
  };

  get client(): KinesisClient {
    return {
      send: (command: { readonly input: object }, options?: { abortSignal?: AbortSignal }) => this.send(command, options?.abortSignal),
      destroy() {},
    } as unknown as KinesisClient;
  }

  private async send(command: { readonly input: object }, signal: AbortSignal | undefined): Promise<unknown> {
    if (!(command instanceof SubscribeToShardCommand)) {
      return this.other(command.constructor.name, command.input as Record<string, unknown>);
    }
    const subscription: FakeSubscription = {
      index: this.subscriptions.length,
      input: command.input,
      pulls: 0,
      aborted: false,
    };
    this.subscriptions.push(subscription);
    signal?.addEventListener('abort', () => (subscription.aborted = true), { once: true });
    const answer = this.onSubscribe(subscription);
    if (answer instanceof Error) throw answer;
    if (answer === 'hang') await untilAborted(signal);
    return { EventStream: this.eventStream(subscription, signal), $metadata: {} };
  }

  private eventStream(subscription: FakeSubscription, signal: AbortSignal | undefined): AsyncIterable<SubscribeToShardEventStream> {
    const pullNext = async (): Promise<IteratorResult<SubscribeToShardEventStream>> => {
      if (signal?.aborted) throw abortError();
      const pull = this.onPull(subscription, subscription.pulls);
      subscription.pulls += 1;
      if ('event' in pull) {
        if (pull.delayMs) await Promise.race([new Promise((resolve) => setTimeout(resolve, pull.delayMs)), untilAborted(signal)]);
        return { value: { SubscribeToShardEvent: pull.event }, done: false };
      }
      if ('end' in pull) return { value: undefined, done: true };
      if ('error' in pull) throw pull.error;
      return untilAborted(signal);
    };
    return {
      [Symbol.asyncIterator]: () => ({
        next: pullNext,
        return: async () => ({ value: undefined, done: true }),
      }),
    };
  }
}

/** A plain record at position `n`, as SubscribeToShard delivers it: data `record-<n>`. */
export function kinesisRecord(n: number): _Record {
  return {
    Data: new TextEncoder().encode(`record-${n}`),
    PartitionKey: `key-${n}`,
    SequenceNumber: sequenceNumber(n),
    ApproximateArrivalTimestamp: new Date(),
  };
}

/** The position `n` of a record made by {@link kinesisRecord}. */
export function positionOf(data: Uint8Array): number {
  return Number(Buffer.from(data).toString().slice('record-'.length));
}

/** An event of records at positions `from`…`from + count - 1`, continuing after the last (or at `from - 1` when empty). */
export function recordsEvent(from: number, count: number, millisBehindLatest = 0): SubscribeToShardEvent {
  return {
    Records: Array.from({ length: count }, (_, index) => kinesisRecord(from + index)),
    ContinuationSequenceNumber: sequenceNumber(Math.max(0, from + count - 1)),
    MillisBehindLatest: millisBehindLatest,
  };
}

/** An error as the SDK raises a service's, by name. */
export function awsError(name: string): Error {
  return Object.assign(new Error(`${name} (injected)`), { name });
}

function abortError(): Error {
  return Object.assign(new Error('Request aborted'), { name: 'AbortError' });
}

function untilAborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (!signal) return;
    if (signal.aborted) return reject(abortError());
    signal.addEventListener('abort', () => reject(abortError()), { once: true });
  });
}
