import { runCli } from '@shoal/cli';
import { silentLogger } from './worker-harness.js';

/** Runs the `shoal` command line in this process and collects what it wrote. */
export async function shoalInProcess(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    write: (text) => void (stdout += text),
    writeError: (text) => void (stderr += text),
    logger: silentLogger,
    signal: new AbortController().signal,
    interactive: false,
  });
  return { code, stdout, stderr };
}
