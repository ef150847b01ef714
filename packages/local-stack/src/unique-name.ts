import { randomBytes } from 'node:crypto';

/** Stream names allow up to 128 characters of `[a-zA-Z0-9_.-]` (table names 255). */
const MAX_NAME_LENGTH = 128;

/**
 * `prefix` plus a random suffix, e.g. `orders-m3x9k2-5f1c0a9e`: valid as a Kinesis stream
 * name, a DynamoDB table name and a NATS subject token. Characters not allowed in those names
 * are replaced with `-`, and a long prefix is shortened to keep the name within 128 characters.
 */
export function uniqueName(prefix = 'shoal'): string {
  const suffix = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  let clean = prefix.replace(/[^a-zA-Z0-9_-]/g, '-');
  if (clean === '') clean = 'shoal';
  clean = clean.slice(0, MAX_NAME_LENGTH - suffix.length - 1);
  return `${clean}-${suffix}`;
}
