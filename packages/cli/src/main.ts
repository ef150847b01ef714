#!/usr/bin/env node
// The `shoal` binary: wires the command line to the process (stdout, stderr, signals, exit code).
import { pino } from 'pino';

// The AWS SDK warns on every start under Node 20 that later releases will need Node 22; the
// command's users read the supported versions in the README instead. Set before the SDK loads.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { runCli } = await import('./program.js');

const controller = new AbortController();
// Once only: a second Ctrl-C falls through to Node's default and kills a stuck shutdown.
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());
// The reader went away (`shoal watch | head`): stop like on a signal instead of crashing.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') controller.abort();
});

const logger = pino({ level: 'error', base: undefined }, pino.destination(2));
try {
  process.exitCode = await runCli(process.argv.slice(2), {
    write: (text) => void process.stdout.write(text),
    writeError: (text) => void process.stderr.write(text),
    logger,
    signal: controller.signal,
    interactive: process.stdout.isTTY === true,
  });
} catch (err) {
  logger.error({ err }, 'shoal failed');
  process.exitCode = 1;
}
