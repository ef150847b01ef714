import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { parseLog, type LogLine } from './log-lines.js';

/**
 * The run's shared log, opened for appending by every process. Each line is one `writeSync` of
 * the whole line on an O_APPEND descriptor: the kernel places it at the end of the file in one
 * piece, so lines from different processes never interleave, and a line is in the file the
 * moment `write` returns (a SIGKILL right after loses nothing).
 */
export class SharedLog {
  private constructor(private fd: number | undefined) {}

  static open(path: string): SharedLog {
    return new SharedLog(openSync(path, 'a'));
  }

  write(line: LogLine): void {
    if (this.fd === undefined) return;
    const bytes = Buffer.from(`${JSON.stringify(line)}\n`);
    const written = writeSync(this.fd, bytes);
    if (written !== bytes.length) throw new Error(`short write to the chaos log: ${written} of ${bytes.length} bytes`);
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Reads a whole shared log. */
export function readSharedLog(path: string): { lines: LogLine[]; malformed: number } {
  return parseLog(readFileSync(path, 'utf8'));
}
