import { afterEach } from 'vitest';
import { FleetView } from './fleet.js';
import type { LocalStackOptions } from '@shoal/local-stack';
import { useLocalStack, type TestStream } from './worker-harness.js';
import { killAll, spawnWorkerProcess, type SpawnWorkerOptions, type WorkerProcess } from './worker-process.js';

/** The shared NATS server every test fleet coordinates over unless it runs its own. */
export const NATS_URL = 'nats://127.0.0.1:4222';

/**
 * Worker processes on one emulator stack for a test file: `spawn` starts one on the shared NATS
 * server (or the one given), `fleetView` reads the lease table, `cleanup` registers what else a
 * test started. After each test every process is killed and every cleanup run, pass or fail.
 */
export function useWorkerProcesses(stackOptions: LocalStackOptions = {}) {
  const local = useLocalStack(stackOptions);
  const processes: WorkerProcess[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];

  afterEach(async () => {
    await killAll(processes);
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  return {
    local,
    spawn(stream: TestStream, workerId: string, options: SpawnWorkerOptions = {}): WorkerProcess {
      const worker = spawnWorkerProcess(local.stack(), stream, workerId, { natsUrl: NATS_URL, ...options });
      processes.push(worker);
      return worker;
    },
    async fleetView(stream: TestStream): Promise<FleetView> {
      const view = await FleetView.open(local.stack(), stream);
      cleanups.push(() => view.close());
      return view;
    },
    cleanup(...steps: (() => Promise<void> | void)[]): void {
      cleanups.push(...steps);
    },
  };
}
