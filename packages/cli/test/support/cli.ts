import { pino } from 'pino';
import { runCli } from '../../src/index.js';

/** Runs the command line in this process with captured output (for cases that need no server). */
export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    write: (text) => (stdout += text),
    writeError: (text) => (stderr += text),
    logger: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    interactive: false,
  });
  return { code, stdout, stderr };
}
