import { InvalidArgumentError, type Command } from 'commander';
import type { Checkpoint } from '@shoal/processor-sdk';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** Parsers of command-line values: each names what a bad value should be, as commander reports it. */

export function nonEmpty(value: string): string {
  if (value.trim().length === 0) throw new InvalidArgumentError('must not be empty.');
  return value;
}

export function commaList(value: string): string[] {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  if (items.length === 0) throw new InvalidArgumentError('must name at least one item (comma-separated).');
  return items;
}

export function port(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed > 65_535) throw new InvalidArgumentError('must be a TCP port, 0 to 65535.');
  return parsed;
}

export function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be an http:// or https:// URL.');
  }
  if (!['http:', 'https:'].includes(url.protocol)) throw new InvalidArgumentError('must be an http:// or https:// URL.');
  return value;
}

export function nonNegativeInteger(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed)) throw new InvalidArgumentError('must be a whole number, 0 or more.');
  return parsed;
}

export function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('must be a positive integer.');
  return parsed;
}

/** `nats://host:port`, `tls://host:port` or `host:port`, as the NATS client accepts them. */
export function natsUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value.includes('://') ? value : `nats://${value}`);
  } catch {
    throw new InvalidArgumentError('must be nats://host:port or host:port.');
  }
  if (!['nats:', 'tls:'].includes(url.protocol) || url.hostname === '') {
    throw new InvalidArgumentError('must be nats://host:port or host:port.');
  }
  return value;
}

/** A checkpoint an operator may set: every kind the lease table stores but SHARD_END. */
export type CheckpointPosition = Exclude<Checkpoint, { type: 'SHARD_END' }>;

/**
 * `TRIM_HORIZON`, `LATEST`, a sequence number (`<digits>` or `<digits>.<sub-sequence>` for a
 * record inside a KPL aggregate: processing resumes after it), or an ISO-8601 timestamp
 * (`AT_TIMESTAMP`: processing resumes at the first record written at or after it).
 */
export function checkpointPosition(value: string): CheckpointPosition {
  const upper = value.trim().toUpperCase();
  if (upper === 'TRIM_HORIZON' || upper === 'LATEST') return { type: upper };
  const sequence = /^(\d{1,128})(?:\.(\d{1,9}))?$/.exec(value.trim());
  if (sequence) {
    return { type: 'SEQUENCE', position: { sequenceNumber: sequence[1]!, subSequenceNumber: Number(sequence[2] ?? 0) } };
  }
  const timestamp = /^\d{4}-\d{2}-\d{2}(T.*)?$/.test(value.trim()) ? new Date(value.trim()) : undefined;
  if (timestamp !== undefined && !Number.isNaN(timestamp.getTime())) return { type: 'AT_TIMESTAMP', timestamp };
  throw new InvalidArgumentError('must be TRIM_HORIZON, LATEST, a sequence number, or an ISO-8601 timestamp such as 2026-12-07T10:00:00Z.');
}

/** `--lease-table`, `--region` and `--dynamodb-endpoint`: where an operator command finds the lease table. */
export function leaseTableOptions(command: Command): Command {
  return command
    .option('--lease-table <name>', 'DynamoDB lease table', nonEmpty, 'shoal-leases')
    .option('--region <region>', 'AWS region (default: from the environment)', nonEmpty)
    .option('--dynamodb-endpoint <url>', 'DynamoDB endpoint, e.g. an emulator', httpUrl);
}
