import type { Worker } from './worker.js';

/**
 * Shuts the worker down gracefully on the first SIGTERM or SIGINT (a rolling deploy, Ctrl-C).
 * A second signal is left to Node's default handling, so an impatient operator can still kill
 * the process. Returns a function that removes the handlers.
 */
export function shutdownOnSignals(worker: Worker, signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): () => void {
  const onSignal = () => {
    remove();
    void worker.shutdown();
  };
  const remove = () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
  for (const signal of signals) process.once(signal, onSignal);
  return remove;
}
