import type { ChildProcess } from 'node:child_process';

export { freeLoopbackPort as closedPort, waitUntilAccepting as untilAccepting } from '@shoal/local-stack';

/** Kills a server process the test started (by its PID) and waits for it to exit. */
export async function killAndWait(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}
