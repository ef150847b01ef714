import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The runtime's folders depend one way: the worker's lifecycle on the fleet, the fleet on lease
 * bookkeeping, lease bookkeeping on the machines and the consumer (polling, or enhanced fan-out
 * built on it); which streams are consumed is
 * known below them all. Inside the fleet, the lease
 * coordinator wires the parts, which never import it back.
 */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

/** Higher layers may import lower ones, never the reverse. */
const LAYERS: readonly [prefix: string, rank: number][] = [
  ['index.ts', 9],
  ['worker/', 8],
  ['fleet/lease-coordinator.ts', 7],
  ['fleet/lease-sync/', 6],
  ['fleet/fleet-parts.ts', 5],
  ['fleet/leader/', 4],
  ['fleet/member/', 4],
  ['fleet/', 3],
  ['leases/', 2],
  ['machines/', 1],
  ['fan-out/', 1],
  ['streams/', 0],
  ['consumer/', 0],
  ['', 0],
];

function rank(file: string): number {
  return LAYERS.find(([prefix]) => file.startsWith(prefix))![1];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

function localImports(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return [...text.matchAll(/from '(\.{1,2}\/[^']+)'/g)].map((match) =>
    relative(SRC, resolve(dirname(join(SRC, file)), match[1]!.replace(/\.js$/, '.ts'))),
  );
}

describe('runtime source layout', () => {
  const files = sourceFiles(SRC);
  const graph = new Map(files.map((file) => [file, localImports(file)]));

  it('imports only from the same or a lower layer', () => {
    const upward = [...graph].flatMap(([file, imports]) =>
      imports.filter((target) => rank(target) > rank(file)).map((target) => `${file} → ${target}`),
    );
    expect(upward).toEqual([]);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'visiting');
      for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });
});
