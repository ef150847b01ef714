import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Proof that a message comes from the worker it names. Each worker draws a secret key when it
 * registers and keeps it in its worker record in the lease table; it signs what it sends with
 * that key, and a receiver checks the signature against the key the table holds for the named
 * sender. So only a party that can read the lease table can speak for a worker, and NATS, being
 * shared infrastructure, can carry forged or replayed messages without being believed.
 */

/** A fresh key for a worker's record. */
export function newFleetKey(): string {
  return randomBytes(24).toString('base64url');
}

/** The signature of `body` (every field but `mac`, in a canonical order) under `key`. */
export function signMessage(body: object, key: string): string {
  return createHmac('sha256', key)
    .update(canonicalJson(withoutMac(body)))
    .digest('base64url');
}

/** Whether `body.mac` is the signature of the rest of `body` under `key`. */
export function verifyMessage(body: { readonly mac?: string }, key: string | undefined): boolean {
  if (key === undefined || typeof body.mac !== 'string') return false;
  const expected = Buffer.from(signMessage(body, key));
  const given = Buffer.from(body.mac);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** `body` with its signature attached. */
export function signed<T extends object>(body: T, key: string): T & { readonly mac: string } {
  return { ...body, mac: signMessage(body, key) };
}

function withoutMac(body: object): object {
  const { mac: _mac, ...rest } = body as { mac?: unknown };
  return rest;
}

/** JSON with object keys sorted at every level, so sender and receiver hash the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
