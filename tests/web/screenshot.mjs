// The README's picture of the playground: a link with knobs set, a seeded generation and
// three takes, in Debian's Chromium. `node screenshot.mjs ../../docs/img/playground.png`.

import { chromium } from 'playwright-core';
import { CHROMIUM, startServer } from './serve.mjs';

const out = process.argv[2] || 'playground.png';
const { child, url } = await startServer();
const browser = await chromium.launch(CHROMIUM);
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1400 } });
  const state = new URLSearchParams({
    temperature: '0.8', top_p: '0.9', min_p: '0.02', seed: '42', pinned: '1', max_tokens: '40',
    compare: 'temperature=0', voice_stability: '0.2', voice_seed: '1',
  });
  await page.goto(`${url}/?${state}`);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
  await page.locator('#run').click();
  await page.waitForFunction(() => document.body.dataset.generating === '0', null, { timeout: 120_000 });
  await page.locator('#out-a .tok').nth(3).hover();
  await page.locator('#takes').click();
  await page.waitForSelector('#takes-table:not([hidden])', { timeout: 120_000 });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  child.kill('SIGTERM');
}
