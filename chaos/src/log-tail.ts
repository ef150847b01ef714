import { closeSync, openSync, readSync } from 'node:fs';
import { parseLogLine, type LogLine } from './log-lines.js';

const CHUNK_BYTES = 1 << 20;

/** Reads the lines appended to the shared log since the last call, for watching a run as it goes. */
export class LogTail {
  private offset = 0;
  private partial = '';

  constructor(private readonly path: string) {}

  /** The complete lines written since the previous call, parsed (lines that are not ours are skipped). */
  read(): LogLine[] {
    const fd = openSync(this.path, 'r');
    const lines: LogLine[] = [];
    try {
      const buffer = Buffer.alloc(CHUNK_BYTES);
      for (;;) {
        const bytes = readSync(fd, buffer, 0, buffer.length, this.offset);
        if (bytes === 0) break;
        this.offset += bytes;
        const parts = (this.partial + buffer.subarray(0, bytes).toString('utf8')).split('\n');
        this.partial = parts.pop() ?? '';
        for (const part of parts) {
          const line = parseLogLine(part);
          if (line) lines.push(line);
        }
      }
    } finally {
      closeSync(fd);
    }
    return lines;
  }
}

/** Which produced records are still waiting to be processed, kept up to date from the log as the run goes. */
export class ProgressTracker {
  private readonly waiting = new Set<string>();
  private readonly processed = new Set<string>();
  private produced = 0;

  constructor(private readonly tail: LogTail) {}

  /** Reads what was appended since the last call. */
  update(): void {
    for (const line of this.tail.read()) {
      if (line.t === 'put') {
        for (const [key, n] of line.records) {
          const id = `${key}#${n}`;
          this.produced += 1;
          if (!this.processed.has(id)) this.waiting.add(id);
        }
      } else if (line.t === 'rec') {
        const id = `${line.key}#${line.n}`;
        this.processed.add(id);
        this.waiting.delete(id);
      }
    }
  }

  get producedCount(): number {
    return this.produced;
  }

  get processedCount(): number {
    return this.processed.size;
  }

  get waitingCount(): number {
    return this.waiting.size;
  }
}
