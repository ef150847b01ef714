import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** Prints rows as an aligned text table. */
export function printTable(title: string, rows: readonly (readonly (string | number)[])[]): void {
  const cells = rows.map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)));
  const widths = cells[0]!.map((_, column) => Math.max(...cells.map((row) => row[column]!.length)));
  const line = (row: readonly string[]) =>
    row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  process.stdout.write(`\n${title}\n${line(cells[0]!)}\n${widths.map((width) => '-'.repeat(width)).join('  ')}\n`);
  for (const row of cells.slice(1)) process.stdout.write(`${line(row)}\n`);
}

/** Writes bench/results/<name>.json with the figures plus when and where they were taken. */
export function writeResult(name: string, figures: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  const result = {
    benchmark: name,
    date: new Date().toISOString(),
    cores: availableParallelism(),
    node: process.version,
    // Other work on the machine skews timings; 1, 5 and 15 minute load averages when the run ended.
    loadAverage: loadavg().map((load) => Number(load.toFixed(2))),
    ...figures,
  };
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\nwrote ${path}\n`);
  return path;
}

/**
 * The commit the figures were taken on, and the package files that differed from it (the
 * benchmark runs whatever `tsc -b` built from the working tree). Undefined outside a git checkout.
 */
export function sourceState(): { commit: string; uncommittedPackageFiles: string[] } | undefined {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: join(RESULTS_DIR, '..', '..'), encoding: 'utf8' });
    const changed = git('status', '--porcelain', '--', 'packages').split('\n');
    return {
      commit: git('rev-parse', '--short', 'HEAD').trim(),
      // Porcelain lines are `XY path`.
      uncommittedPackageFiles: changed.filter((line) => line.length > 3).map((line) => line.slice(3)),
    };
  } catch {
    return undefined;
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(value < 10 ? 3 : 1);
}

/** Nearest-rank percentile (p in 0..100) of the values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
