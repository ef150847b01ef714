import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workerOptionsFrom } from '../packages/cli/src/worker-config.js';

function fileWith(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'shoal-replicate-to-')), 'shoal.json');
  writeFileSync(path, text);
  return path;
}

describe('--replicate-to', () => {
  it('refuses to replicate a stream into itself (every copy would be read and copied again, forever)', async () => {
    await expect(workerOptionsFrom({ application: 'copier', stream: 'orders', replicateTo: ['orders'] })).rejects.toThrow(/orders/);
  });

  it('refuses a --stream-pattern that matches a replication target', async () => {
    await expect(workerOptionsFrom({ application: 'copier', streamPattern: 'orders.*', replicateTo: ['orders-eu'] })).rejects.toThrow(
      /orders-eu/,
    );
  });

  it('reads replicateTo from the config file as stream names, not as the characters of a string', async () => {
    const config = fileWith(JSON.stringify({ applicationName: 'copier', streamName: 'orders', replicateTo: 'eu-1' }));
    const outcome = await workerOptionsFrom({ config }).then(
      ({ processor }) => processor,
      (err: unknown) => ({ rejected: String(err) }),
    );
    // Either a clear error or the one stream; not four streams named e, u, - and 1.
    expect(outcome).not.toEqual({ kind: 'replicate', targets: ['e', 'u', '-', '1'] });
  });
});
