import type { ChildProcess } from 'node:child_process';

/**
 * Every OS process the runner started (servers, workers), so that each is ended by its own PID
 * however the run ends: normally, by an error, or by Ctrl-C. Processes leave the set when they exit.
 */
export class ChildProcesses {
  private readonly running = new Map<number, { readonly child: ChildProcess; readonly name: string }>();

  /** Tracks a started process; returns its PID. */
  add(child: ChildProcess, name: string): number {
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${name} did not start`);
    this.running.set(pid, { child, name });
    child.once('exit', () => this.running.delete(pid));
    return pid;
  }

  get size(): number {
    return this.running.size;
  }

  names(): string[] {
    return [...this.running.values()].map((entry) => entry.name);
  }

  /**
   * SIGCONT (a stopped process cannot die otherwise) then SIGKILL to every tracked process, by
   * PID. Synchronous, so it also works from a process 'exit' handler.
   */
  killAllNow(): void {
    for (const pid of this.running.keys()) {
      for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
        try {
          process.kill(pid, signal);
        } catch {
          // Exited meanwhile.
        }
      }
    }
  }

  /** Kills every tracked process and waits (bounded) until each has exited. */
  async killAll(timeoutMs = 10_000): Promise<void> {
    const exits = [...this.running.values()].map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          else child.once('exit', () => resolve());
        }),
    );
    this.killAllNow();
    await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }
}
