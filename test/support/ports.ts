import type { ChildProcess } from 'node:child_process';
import { freeLoopbackPort, waitUntilAccepting } from '@shoal/local-stack';

/** A loopback port nothing listens on (it was free a moment ago). */
export const closedPort = freeLoopbackPort;

/** Waits until something accepts connections on the loopback `port`; fails naming `what` after 10 s. */
export const untilAccepting = (port: number, what: string): Promise<void> => waitUntilAccepting(port, what);

/** Kills a server process the test started (by its PID) and waits for it to exit. */
export async function killAndWait(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}
