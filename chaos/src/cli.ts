/**
 * `pnpm chaos [--minutes 10] [--seed 1] [--workers N] [--shards N] [--rate 150] [--worker-log-level info]`:
 * one seeded chaos run. Prints progress and the report, writes bench/results/chaos.json, keeps the
 * shared log and the workers' logs in bench/results/chaos-runs/seed-<seed>/, and exits 1 when a
 * target was missed.
 *
 * `pnpm chaos --check <chaos.jsonl>`: checks the log of an earlier run again and prints the report.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkChaosLog } from './checker.js';
import { formatReport, resultJson, writeResultJson } from './report.js';
import { runChaos } from './runner.js';
import { readSharedLog } from './shared-log.js';

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    workers: { type: 'string' },
    shards: { type: 'string' },
    rate: { type: 'string', default: '150' },
    'worker-log-level': { type: 'string', default: 'info' },
    check: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: pnpm chaos [--minutes 10] [--seed 1] [--workers 3..5] [--shards 8..16] [--rate 150] [--worker-log-level info]\n' +
      '       pnpm chaos --check <chaos.jsonl>\n',
  );
  process.exit(0);
}
if (values.check !== undefined) {
  const { lines, malformed } = readSharedLog(values.check);
  const report = checkChaosLog(lines, malformed);
  process.stdout.write(`${formatReport(report, { notes: [], logPath: values.check })}\n`);
  process.exit(report.passed ? 0 : 1);
}
const minutes = positive('minutes', values.minutes);
const seed = Math.trunc(positive('seed', values.seed, true));
const workers = values.workers === undefined ? undefined : Math.trunc(positive('workers', values.workers));
const shards = values.shards === undefined ? undefined : Math.trunc(positive('shards', values.shards));
if (workers !== undefined && (workers < 3 || workers > 5)) fail('--workers must be 3 to 5');
if (shards !== undefined && (shards < 8 || shards > 16)) fail('--shards must be 8 to 16');

const result = await runChaos({
  seed,
  minutes,
  runDir: join(RESULTS_DIR, 'chaos-runs', `seed-${seed}`),
  ...(workers === undefined ? {} : { workers }),
  ...(shards === undefined ? {} : { shards }),
  recordsPerSecond: positive('rate', values.rate),
  workerLogLevel: values['worker-log-level'],
  onProgress: (message) => process.stdout.write(`${message}\n`),
});
process.stdout.write(`\n${formatReport(result.report, result)}\n`);
const path = join(RESULTS_DIR, 'chaos.json');
writeResultJson(path, resultJson(result.report, result));
process.stdout.write(`\nwrote ${path}\nlogs in ${result.runDir}\n`);
process.exit(result.report.passed ? 0 : 1);

function positive(name: string, text: string, allowZero = false): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0))
    fail(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${text}`);
  return value;
}

function fail(message: string): never {
  process.stderr.write(`pnpm chaos: ${message}\n`);
  process.exit(2);
}
