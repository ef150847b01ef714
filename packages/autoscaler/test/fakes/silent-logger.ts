import type { Logger } from '@shoal/coordinator';

const ignore = () => {};

/** A logger that drops every line. */
export const silentLogger: Logger = {
  trace: ignore,
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
  fatal: ignore,
  child: () => silentLogger,
} as unknown as Logger;
