import { pino } from 'pino';

/** One line a {@link capturingLogger} wrote. */
export interface LogLine {
  /** pino's level number: 40 warn, 50 error. */
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** A pino logger at debug level whose lines are kept, parsed, in `lines`. */
export function capturingLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (chunk: string) => void lines.push(JSON.parse(chunk) as LogLine) });
  return { logger, lines };
}
