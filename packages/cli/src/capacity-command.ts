import { planCapacity, type CapacityPlan, type ShardUse } from '@shoal/autoscaler';
import { InvalidArgumentError, type Command } from 'commander';
import { nonNegativeInteger, positiveInteger } from './option-parsers.js';
import type { CliIo } from './program.js';

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, kib: 1024, mb: 1024 * 1024, mib: 1024 * 1024 };

/** `512`, `512B`, `1KB`, `1.5KiB`, `1MB`: bytes. Kinesis counts its limits in KiB and MiB, so KB and MB are 1,024-based. */
export function byteSize(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/u.exec(value);
  const unit = SIZE_UNITS[(match?.[2] || 'b').toLowerCase()];
  if (!match || unit === undefined) throw new InvalidArgumentError('must be a size such as 512, 512B, 1KB or 1MB (1 KB = 1,024 bytes).');
  const bytes = Number(match[1]) * unit;
  if (bytes <= 0 || bytes > 1024 * 1024) throw new InvalidArgumentError('must be more than 0 and at most 1MB, the largest Kinesis record.');
  return bytes;
}

/** `20%` or `0.2`: a fraction. */
export function fraction(value: string): number {
  const percent = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/u.exec(value);
  const parsed = percent ? Number(percent[1]) / 100 : /^\s*\d+(?:\.\d+)?\s*$/u.test(value) ? Number(value) : Number.NaN;
  if (!(parsed >= 0 && parsed <= 4))
    throw new InvalidArgumentError('must be a percentage such as 20% (or a fraction such as 0.2), from 0 to 400%.');
  return parsed;
}

export function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!/^\s*\d+(?:\.\d+)?\s*$/u.test(value) || !(parsed > 0)) throw new InvalidArgumentError('must be a number above 0.');
  return parsed;
}

const percentOf = (fraction: number) => `${(fraction * 100).toFixed(0)} %`;

function useLine(use: ShardUse): string {
  return `at ${use.shards} shards each shard takes ${percentOf(use.writeRecords)} of its 1,000 records/s, ${percentOf(use.writeBytes)} of its 1 MiB/s of writes and ${percentOf(use.readBytes)} of its 2 MiB/s of reads`;
}

export function renderCapacityPlan(plan: CapacityPlan): string {
  return [
    `shards: ${plan.shards} (${plan.powerOfTwoShards} as a power of two)`,
    ...plan.arithmetic.map((line) => `  ${line}`),
    useLine(plan.use),
    useLine(plan.powerOfTwoUse),
  ].join('\n');
}

/** Adds `shoal capacity` to the program. */
export function addCapacityCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  program
    .command('capacity')
    .description(
      'Print the shards a workload needs, with the arithmetic: writes (1 MiB/s and 1,000 records/s per shard) and polling reads (2 MiB/s per shard shared by every polling consumer), plus headroom, and the power of two above it.',
    )
    .requiredOption('--devices <n>', 'producers writing to the stream', positiveInteger)
    .requiredOption('--rate <records-per-second>', 'records a second each producer writes', positiveNumber)
    .requiredOption('--record-size <size>', 'average record size, e.g. 512B, 1KB (1,024 bytes), 1MB', byteSize)
    .option('--consumers <n>', 'applications reading every record by polling (enhanced fan-out ones do not count)', nonNegativeInteger, 1)
    .option('--headroom <percent>', 'spare capacity on top of the need, e.g. 20%', fraction, 0.2)
    .option('--json', 'the plan as one JSON object')
    .action((flags: { devices: number; rate: number; recordSize: number; consumers: number; headroom: number; json?: true }) => {
      const plan = planCapacity({
        producers: flags.devices,
        recordsPerSecondEach: flags.rate,
        recordBytes: flags.recordSize,
        pollingConsumers: flags.consumers,
        headroom: flags.headroom,
      });
      io.write(`${flags.json ? JSON.stringify(plan) : renderCapacityPlan(plan)}\n`);
      setExitCode(0);
    });
}
