/** What every produced record carries: its partition key and its number n = 1, 2, 3… within that key. */
export interface ChaosPayload {
  readonly key: string;
  readonly n: number;
}

export function encodePayload(payload: ChaosPayload): Uint8Array {
  return Buffer.from(JSON.stringify({ key: payload.key, n: payload.n }));
}

export function decodePayload(data: Uint8Array): ChaosPayload {
  const value = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as Partial<ChaosPayload>;
  if (typeof value.key !== 'string' || typeof value.n !== 'number') throw new Error('not a chaos record');
  return { key: value.key, n: value.n };
}
