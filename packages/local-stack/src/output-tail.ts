/**
 * The last lines a process wrote, kept in memory so a start-up failure can show them without
 * the emulators' output ever reaching the test runner's console.
 */
export class OutputTail {
  readonly #maxLines: number;
  readonly #maxLineLength: number;
  readonly #lines: string[] = [];
  #partial = '';

  /**
   * @param maxLines - how many complete lines to keep (older ones are dropped).
   * @param maxLineLength - longer lines are cut to this many characters.
   */
  constructor(maxLines = 50, maxLineLength = 2_000) {
    this.#maxLines = maxLines;
    this.#maxLineLength = maxLineLength;
  }

  /** Appends a chunk of output; `prefix` marks every line it completes (e.g. `'[stderr] '`). */
  push(chunk: string | Buffer, prefix = ''): void {
    const text = this.#partial + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const parts = text.split('\n');
    this.#partial = (parts.pop() ?? '').slice(0, this.#maxLineLength);
    for (const line of parts) this.#add(prefix + line.replace(/\r$/, ''));
  }

  /** The kept lines (plus an unterminated last line, if any), oldest first. */
  lines(): string[] {
    return this.#partial === '' ? [...this.#lines] : [...this.#lines, this.#partial];
  }

  /** The kept lines joined with newlines. */
  toString(): string {
    return this.lines().join('\n');
  }

  #add(line: string): void {
    this.#lines.push(line.length > this.#maxLineLength ? `${line.slice(0, this.#maxLineLength)}…` : line);
    if (this.#lines.length > this.#maxLines) this.#lines.splice(0, this.#lines.length - this.#maxLines);
  }
}
