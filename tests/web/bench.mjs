// The playground's speed, measured in Debian's Chromium against a real `dial serve` on the
// default model: a bounded number of page loads and explain round trips, no timing
// assertions (BENCHMARKS.md records the figures). `node bench.mjs [loads] [calls]`.
//
// - first render: first contentful paint, and the first chart drawn from /v1/explain,
//   both from navigation start, each load in a fresh browser context (no cache), for the
//   default page and for a prompt the server has not seen;
// - explain round trip: fetch + JSON parse from inside the page, for a cached prompt
//   (x-dial-cache: hit) as the knobs change, against the same prompt's uncached first
//   call and against GET /health (the server's floor), all in this run.

import { chromium } from 'playwright-core';
import { CHROMIUM, startServer } from './serve.mjs';

const loads = Number(process.argv[2] || 10);
const calls = Number(process.argv[3] || 100);

function summary(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { n: s.length, median: at(0.5), p95: at(0.95), max: s[s.length - 1] };
}

const { child, url } = await startServer();
const browser = await chromium.launch(CHROMIUM);
try {
  const fcp = [];
  const chart = [];
  const coldChart = [];
  // The default page (its prompt's logits warmed at start), then pages with a prompt the
  // server has not seen (a prefill before the first chart), alternating.
  for (let i = 0; i < 2 * loads; i++) {
    const cold = i % 2 === 1;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(cold ? `${url}/?prompt=${encodeURIComponent(`Load ${i} of the page:`)}` : `${url}/`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
    const t = await page.evaluate(() => ({
      fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime,
      chart: window.dialTimings.firstChart,
      cache: window.dialTimings.lastExplainCache,
    }));
    if (t.cache !== (cold ? 'miss' : 'hit')) throw new Error(`load ${i}: cache ${t.cache}`);
    fcp.push(t.fcp);
    (cold ? coldChart : chart).push(t.chart);
    await context.close();
  }
  const page = await browser.newPage();
  await page.goto(`${url}/`);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
  const rounds = await page.evaluate(async (n) => {
    const post = async (body) => {
      const t0 = performance.now();
      const r = await fetch('/v1/explain', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await r.json();
      return { ms: performance.now() - t0, cache: r.headers.get('x-dial-cache') };
    };
    const health = [];
    const hit = [];
    const miss = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await (await fetch('/health')).json();
      health.push(performance.now() - t0);
      const h = await post({ messages: [{ role: 'user', content: 'The capital of France is' }], temperature: 0.5 + (i % 10) / 10, top_p: 0.9, top: 12 });
      if (h.cache !== 'hit') throw new Error('expected a cache hit');
      hit.push(h.ms);
    }
    // Uncached: a new prompt each time (the cache holds 8), capped to keep the run short.
    for (let i = 0; i < Math.min(n, 20); i++) {
      const m = await post({ messages: [{ role: 'user', content: `Prompt number ${i} is new` }], top: 12 });
      if (m.cache !== 'miss') throw new Error('expected a miss');
      miss.push(m.ms);
    }
    return { health, hit, miss };
  }, calls);
  const result = {
    first_contentful_paint_ms: summary(fcp),
    first_chart_ms: summary(chart),
    first_chart_new_prompt_ms: summary(coldChart),
    explain_cached_ms: summary(rounds.hit),
    explain_uncached_ms: summary(rounds.miss),
    health_ms: summary(rounds.health),
  };
  result.cached_over_uncached = result.explain_cached_ms.median / result.explain_uncached_ms.median;
  result.cached_over_health = result.explain_cached_ms.median / result.health_ms.median;
  console.log(JSON.stringify(result, null, 2));
} finally {
  await browser.close();
  child.kill('SIGTERM');
}
