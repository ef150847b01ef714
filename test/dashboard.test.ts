import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runDashboard } from '@shoal/cli';
import { produceRecords } from '@shoal/local-stack';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, ownedLeaseCount, silentLogger, useLocalStack } from './support/worker-harness.js';

/**
 * `shoal dashboard` in a real browser (Debian's chromium, driven by playwright-core): the page
 * follows the fleet live from NATS, and a lease moving between two workers shows up on it.
 */
const local = useLocalStack();
const CHROMIUM = process.env.SHOAL_CHROMIUM ?? '/usr/bin/chromium';
let browser: Browser;

beforeAll(async () => {
  // Fails, not skips, without a browser: the test set-up installs it.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
});

/** Starts `shoal dashboard` in this process on a free port; resolves its URL and a stop function. */
async function startDashboard(application: string): Promise<{ url: string; stop: () => Promise<number> }> {
  const abort = new AbortController();
  let output = '';
  const running = runDashboard(
    { application, nats: '127.0.0.1:4222', port: 0, host: '127.0.0.1', connectTimeoutMs: 5_000 },
    {
      write: (text) => void (output += text),
      writeError: (text) => void (output += text),
      logger: silentLogger,
      signal: abort.signal,
      interactive: false,
    },
  );
  await eventually(() => /http:\/\/\S+\//.test(output), 'the dashboard prints its address', 10_000);
  return {
    url: /http:\/\/\S+\//.exec(output)![0],
    stop: () => {
      abort.abort();
      return running;
    },
  };
}

describe('shoal dashboard', () => {
  it('shows the fleet live, and a lease moving between two workers, in a real browser', async () => {
    const stream = await local.createTestStream(2);
    const fleetOptions = { nats: { servers: '127.0.0.1:4222' }, loadReportIntervalMs: 250 };
    const first = await stream.createWorker({ workerId: 'dash-first', ...fleetOptions });
    void first.run();
    await eventually(() => ownedLeaseCount(first) === 2, 'the first worker holds both leases');
    const dashboard = await startDashboard(stream.applicationName);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(dashboard.url);
      const leaseOf = (workerId: string) => page.locator(`[data-worker="${workerId}"] .lease[data-top="owned"]`);
      await leaseOf('dash-first').nth(1).waitFor({ timeout: 20_000 });
      await page.locator('[data-worker="dash-first"] [data-leader]').waitFor({ timeout: 20_000 });
      expect(await page.locator('#leader').textContent()).toBe('dash-first');
      expect((await fetch(`${dashboard.url}healthz`)).status).toBe(200);
      const state = (await (await fetch(`${dashboard.url}state`)).json()) as { leaders: string[]; workers: { workerId: string }[] };
      expect(state).toMatchObject({ leaders: ['dash-first'], workers: [{ workerId: 'dash-first' }] });

      await produceRecords({
        kinesis: local.stack().kinesis,
        streamName: stream.streamName,
        count: 200,
        batchSize: 20,
        pauseMs: 50,
        keyCount: 8,
        ledger: stream.ledger,
      });
      await page.locator('#chart polyline[data-series]').nth(1).waitFor({ state: 'attached', timeout: 20_000 });

      const second = await stream.createWorker({ workerId: 'dash-second', ...fleetOptions });
      void second.run();
      await leaseOf('dash-second').first().waitFor({ timeout: 30_000 });
      const moved = await leaseOf('dash-second').first().getAttribute('data-lease');
      expect(moved).toMatch(new RegExp(`^${stream.streamName}/shardId-`));
      // The page shows it under the new owner only, and the move among the transitions.
      await page.locator(`[data-worker="dash-first"] [data-lease="${moved}"]`).waitFor({ state: 'detached', timeout: 20_000 });
      expect(await leaseOf('dash-first').count()).toBe(1);
      const transitions = page.locator(`#transitions tr[data-transition="${moved}"]`);
      await eventually(async () => (await transitions.count()) >= 2, 'the move is among the recent transitions');
      const rows = (await transitions.allTextContents()).join('\n');
      expect(rows).toContain('dash-second');
      expect(rows).toMatch(/dash-first.*(draining|ended)/);
      expect(await page.locator('#worker-count').textContent()).toBe('2');

      const screenshot = process.env.SHOAL_DASHBOARD_SCREENSHOT ?? join(tmpdir(), `shoal-dashboard-${process.pid}.png`);
      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
    } finally {
      await page.close();
      expect(await dashboard.stop()).toBe(0);
    }
  });

  it('says so and exits 1 when NATS does not answer', async () => {
    const errors: string[] = [];
    const code = await runDashboard(
      { application: 'nobody', nats: '127.0.0.1:1', port: 0, host: '127.0.0.1', connectTimeoutMs: 500 },
      {
        write: () => {},
        writeError: (text) => void errors.push(text),
        logger: silentLogger,
        signal: new AbortController().signal,
        interactive: false,
      },
    );
    expect(code).toBe(1);
    expect(errors.join('')).toContain('shoal dashboard: cannot reach NATS at 127.0.0.1:1 within 500 ms');
  });
});
