import type { EmulatorKind } from './emulator-kind.js';

/**
 * An emulator did not come up: its host crashed, reported an error, or did not report a port
 * in time. The message names the emulator and ends with the last lines it wrote.
 */
export class EmulatorStartError extends Error {
  override readonly name = 'EmulatorStartError';
  /** Which emulator failed. */
  readonly emulator: EmulatorKind;
  /** The last lines the emulator wrote to stdout/stderr (may be empty). */
  readonly output: string;
  /** OS process id of the host that was started (and has been killed), if it was spawned. */
  readonly pid: number | undefined;

  constructor(emulator: EmulatorKind, reason: string, output: string, options?: { cause?: unknown; pid?: number | undefined }) {
    const tail = output.trim() === '' ? '(no output)' : output;
    super(
      `${emulator} failed to start: ${reason}\n--- last output of ${emulator} ---\n${tail}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.emulator = emulator;
    this.output = output;
    this.pid = options?.pid;
  }
}
