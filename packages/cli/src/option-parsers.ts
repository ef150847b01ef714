import { InvalidArgumentError } from 'commander';

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
