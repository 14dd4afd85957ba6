// The playground in Debian's Chromium, driven by playwright-core, against a real
// `dial serve` on the default model and voice. Run with `node --test` (scripts/test).
//
// DIAL: the dial binary (default: $CARGO_TARGET_DIR/release/dial).
// SCREENSHOTS: where the before/after screenshots go (default: tests/web/screenshots).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM, startServer } from './serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shots = process.env.SCREENSHOTS || join(here, 'screenshots');

let server;
let base;
let browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  const started = await startServer();
  server = started.child;
  base = started.url;
  browser = await chromium.launch(CHROMIUM);
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill('SIGTERM');
});

/**
 * A page that records console errors and uncaught exceptions. `allowed` lists console
 * errors a test provokes on purpose (a 4xx answer that Chromium logs as a failed load).
 */
async function open(path = '/', allowed = []) {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1400 } });
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !allowed.some((re) => re.test(m.text()))) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  await page.goto(base + path);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
  const done = async () => {
    const pageError = await page.locator('#page-error').isVisible();
    assert.equal(pageError, false, `the page showed an error: ${await page.locator('#page-error').textContent()}`);
    assert.deepEqual(problems, [], 'no console errors and no uncaught exceptions');
    await page.close();
  };
  return { page, done };
}

/** Waits until the chart shows the answer to an explain sent after `previous`. */
async function nextExplain(page, previous) {
  await page.waitForFunction((p) => {
    const e = document.body.dataset.explain;
    return e !== undefined && e !== p;
  }, previous, { timeout: 30_000 });
}

async function explainSeq(page) {
  return page.evaluate(() => document.body.dataset.explain);
}

async function number(page, selector) {
  const text = await page.locator(selector).textContent();
  const n = Number.parseFloat(text);
  assert.ok(Number.isFinite(n), `${selector} shows a number, got ${JSON.stringify(text)}`);
  return n;
}

async function keyOnSlider(page, name, key) {
  const seq = await explainSeq(page);
  await page.locator(`#${name}-range`).focus();
  await page.keyboard.press(key);
  await nextExplain(page, seq);
}

async function typeInto(page, selector, text) {
  const seq = await explainSeq(page);
  await page.locator(selector).fill(text);
  await nextExplain(page, seq);
}

test('the chart renders bars from the model, and the sliders come from the server', async () => {
  const { page, done } = await open();
  await page.screenshot({ path: join(shots, 'before.png'), fullPage: true });
  const bars = await page.locator('#chart tbody tr.kept .bar.after').count();
  assert.ok(bars >= 10, `bars for the top tokens, got ${bars}`);
  const width = await page.locator('#chart tbody tr.kept .bar.after').first().evaluate((el) => el.getBoundingClientRect().width);
  assert.ok(width > 10, `the top bar has a width, got ${width}`);
  const knobs = await (await fetch(`${base}/v1/knobs`)).json();
  const temperature = knobs.knobs.flatMap((k) => k.fields).find((f) => f.name === 'temperature');
  const range = page.locator('#temperature-range');
  assert.equal(Number(await range.getAttribute('max')), temperature.slider.max);
  assert.equal(Number(await range.getAttribute('step')), temperature.slider.step);
  assert.ok((await page.locator('#temperature-help').textContent()).includes(temperature.help));
  // Every knob field with a slider has a control, in the front row or the advanced fold,
  // and so does every chain-wide field (min_keep); every switch has a box.
  const fields = knobs.knobs.flatMap((k) => k.fields).concat(knobs.chain.fields);
  for (const f of fields.filter((f) => f.slider)) {
    assert.equal(await page.locator(`#${f.name}-range`).count(), 1, `a slider for ${f.name}`);
  }
  for (const f of fields.filter((f) => f.kind === 'bool')) {
    assert.equal(await page.locator(`#${f.name}-box`).count(), 1, `a box for ${f.name}`);
  }
  await done();
});

test('temperature 0 keeps one token, 2 raises the entropy; keyboard moves the slider', async () => {
  const { page, done } = await open();
  const atOne = await number(page, '#entropy-after');
  await keyOnSlider(page, 'temperature', 'Home');
  assert.equal(await page.locator('#temperature-text').inputValue(), '0');
  assert.equal(await number(page, '#nucleus'), 1);
  assert.equal(await page.locator('#chart tbody tr.kept').count(), 1);
  assert.equal(await number(page, '#entropy-after'), 0);
  await keyOnSlider(page, 'temperature', 'End');
  assert.equal(await page.locator('#temperature-text').inputValue(), '2');
  const atTwo = await number(page, '#entropy-after');
  assert.ok(atTwo > atOne, `entropy at T = 2 (${atTwo}) above T = 1 (${atOne})`);
  await done();
});

test('top_p 0.5 cuts tokens, each marked with top_p and its reason', async () => {
  const { page, done } = await open();
  await typeInto(page, '#top_p-text', '0.5');
  const cut = page.locator('#chart tbody tr.cut');
  const n = await cut.count();
  assert.ok(n > 0, 'some listed tokens are cut');
  for (let i = 0; i < n; i++) {
    const reason = await cut.nth(i).locator('.reason').textContent();
    assert.match(reason, /^top_p: cum \d\.\d+ > 0\.5$/);
  }
  const stages = await page.locator('#stages li').allTextContents();
  assert.ok(stages.some((s) => s.startsWith('top_p p = 0.5')), `the stage strip shows top_p: ${stages}`);
  await page.screenshot({ path: join(shots, 'after.png'), fullPage: true });
  await done();
});

test('the newer stages from the advanced fold: p_less_norm and epsilon_cutoff cut with their reasons', async () => {
  const { page, done } = await open();
  await page.locator('#advanced summary').click();
  await page.locator('#p_less_norm-box').check();
  await page.waitForFunction(() => document.querySelectorAll('#chart tbody tr.cut').length > 0);
  const reasons = await page.locator('#chart tbody tr.cut td.reason').allTextContents();
  assert.ok(reasons.length > 0 && reasons.every((r) => /^p_less_norm: p \d\.\d+ < \(V·Σ p² − 1\)\/\(V − 1\) = \d\.\d+$/.test(r)), reasons.join('|'));
  await page.locator('#p_less_norm-box').uncheck();
  await typeInto(page, '#epsilon_cutoff-text', '0.05');
  await page.waitForFunction(() => [...document.querySelectorAll('#chart tbody tr.cut td.reason')].some((td) => td.textContent.startsWith('epsilon_cutoff')));
  const stages = await page.locator('#stages li').allTextContents();
  assert.ok(stages.some((s) => s.startsWith('epsilon_cutoff ε = 0.05')), `the stage strip shows epsilon_cutoff: ${stages}`);
  await done();
});

test("the note's six tokens need no model and show their true softmax", async () => {
  const { page, done } = await open();
  const seq = await explainSeq(page);
  await page.locator('input[name=source][value=note]').check();
  await nextExplain(page, seq);
  const rows = await page.locator('#chart tbody tr').allTextContents();
  assert.equal(rows.length, 6);
  // softmax([1.3, 2.5, 0.7, 3.2, 0.2, 1.0]), computed here, not copied from the note.
  const logits = [1.3, 2.5, 0.7, 3.2, 0.2, 1.0];
  const z = logits.reduce((a, l) => a + Math.exp(l), 0);
  const p = logits.map((l) => Math.exp(l) / z);
  assert.ok(rows[0].startsWith('on') && rows[0].includes(`${p[3].toFixed(3)} → ${p[3].toFixed(3)}`), rows[0]);
  assert.ok(rows.some((r) => r.startsWith('cat') && r.includes(p[1].toFixed(3))), rows.join('|'));
  await done();
});

test('the link restores the knobs, the seed and the same distribution', async () => {
  const { page, done } = await open();
  await typeInto(page, '#temperature-text', '0.7');
  await typeInto(page, '#top_k-text', '5');
  await page.locator('#advanced summary').click();
  await typeInto(page, '#xtc_probability-text', '0.5');
  await typeInto(page, '#seed', '1234');
  await page.locator('#seed-pinned').check();
  const url = page.url();
  const chart = await page.locator('#chart tbody').textContent();
  await done();
  assert.match(url, /temperature=0.7/);
  const { page: again, done: doneAgain } = await open(url.slice(base.length));
  assert.equal(await again.locator('#temperature-text').inputValue(), '0.7');
  assert.equal(await again.locator('#temperature-range').inputValue(), '0.7');
  assert.equal(await again.locator('#top_k-text').inputValue(), '5');
  assert.equal(await again.locator('#xtc_probability-text').inputValue(), '0.5');
  assert.equal(await again.locator('#seed').inputValue(), '1234');
  assert.equal(await again.locator('#seed-pinned').isChecked(), true);
  assert.equal(await again.locator('#chart tbody').textContent(), chart, 'the same distribution');
  await doneAgain();
});

async function cancelled() {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = text.match(/^dial_cancelled_total (\d+)/m);
  assert.ok(m, 'the metrics count cancellations');
  return Number(m[1]);
}

test('Generate streams coloured tokens with alternatives, and Stop stops it', async () => {
  const { page, done } = await open();
  await page.locator('#max-tokens').fill('400');
  await page.locator('#seed').fill('7');
  await page.locator('#seed-pinned').check();
  const before = await cancelled();
  await page.locator('#run').click();
  await page.waitForFunction(() => document.querySelectorAll('#out-a .tok').length >= 4, null, { timeout: 60_000 });
  await page.locator('#stop').click();
  await page.waitForSelector('body[data-generating="0"]', { timeout: 30_000 });
  const n = await page.locator('#out-a .tok').count();
  assert.ok(n >= 4 && n < 400, `stopped early, after ${n} tokens`);
  await page.waitForTimeout(1000);
  assert.equal(await page.locator('#out-a .tok').count(), n, 'no token arrives after Stop');
  assert.match(await page.locator('#gen-status').textContent(), /seed 7: stopped/);
  for (let i = 0; i < 50 && (await cancelled()) === before; i++) await page.waitForTimeout(100);
  assert.ok((await cancelled()) > before, 'the server cancelled the sequence');
  // Focus (keyboard) shows a token's alternatives and the distribution it came from.
  const first = page.locator('#out-a .tok').first();
  const p = Number(await first.getAttribute('data-p'));
  assert.ok(p > 0 && p <= 1, `a token's probability, got ${p}`);
  await first.focus();
  const info = await page.locator('#token-info').textContent();
  assert.match(info, /drawn with p = /);
  assert.ok((await page.locator('#token-info tr').count()) >= 1, 'alternatives listed');
  await done();
});

test('a list field from the advanced fold: banned_strings keeps a phrase out of Generate', async () => {
  const { page, done } = await open();
  await page.locator('#max-tokens').fill('16');
  await page.locator('#seed').fill('3');
  await page.locator('#seed-pinned').check();
  await typeInto(page, '#temperature-text', '0');
  const generate = async () => {
    await page.locator('#run').click();
    await page.waitForFunction(() => document.body.dataset.generating === '0' && document.querySelectorAll('#out-a .tok').length > 0, null, { timeout: 60_000 });
    return page.locator('#out-a').textContent();
  };
  const plain = await generate();
  const word = plain.split(/[^A-Za-z]+/).find((w) => w.length >= 3);
  assert.ok(word, `a word to ban in ${JSON.stringify(plain)}`);
  await page.locator('#advanced summary').click();
  await page.locator('#banned_strings-list').fill(`${word.toUpperCase()}\nzzzz`);
  await page.locator('#banned_strings_case_insensitive-box').check();
  const kept = await generate();
  assert.ok(!kept.toLowerCase().includes(word.toLowerCase()), `${word} in ${JSON.stringify(kept)}`);
  assert.notEqual(kept, plain);
  assert.ok(page.url().includes('banned_strings'), 'the link carries the list');
  await done();
});

test('guidance from the advanced fold: the next-token view runs the negative prompt too', async () => {
  const { page, done } = await open();
  await page.locator('#advanced summary').click();
  await page.locator('#negative_prompt-list').fill('A recipe for soup:');
  await typeInto(page, '#guidance_scale-text', '0');
  await page.waitForFunction(() => [...document.querySelectorAll('#stages li')].some((li) => li.textContent.startsWith('guidance')));
  const stages = await page.locator('#stages li').allTextContents();
  assert.ok(stages.some((s) => s.includes('negative prompt of')), stages.join('|'));
  await done();
});

test('compare runs two settings with the same seed: a no-op knob gives the same sampled text', async () => {
  const { page, done } = await open();
  await page.locator('#max-tokens').fill('12');
  await page.locator('#compare').check();
  await page.locator('#compare-knobs').fill('top_p=1');
  await page.locator('#run').click();
  await page.waitForFunction(() => document.body.dataset.generating === '0' && document.querySelectorAll('#out-b .tok').length > 0, null, { timeout: 60_000 });
  const a = await page.locator('#out-a').textContent();
  const b = await page.locator('#out-b').textContent();
  assert.ok(a.length > 0);
  assert.equal(a, b, 'the same seed at T = 1 draws the same tokens when B only adds top_p = 1');
  await done();
});

test('Format constrains the next-token view and Generate, and a bad schema shows its error', async () => {
  const { page, done } = await open('/', [/400/]);
  let seq = await explainSeq(page);
  await page.locator('#format').selectOption('choice');
  await nextExplain(page, seq);
  await typeInto(page, '#format-value', 'yes\nno');
  const stages = await page.locator('#stages li').allTextContents();
  assert.ok(stages.some((s) => s.startsWith('grammar')), `the stage strip shows the grammar: ${stages}`);
  const kept = await page.locator('#chart tbody tr.kept td.token').allTextContents();
  assert.ok(kept.length >= 1, 'some tokens are kept');
  for (const t of kept) assert.ok('yes'.startsWith(t) || 'no'.startsWith(t), `a kept token begins yes or no: ${JSON.stringify(t)}`);
  const reasons = await page.locator('#chart tbody tr.cut td.reason').allTextContents();
  assert.ok(reasons.some((r) => r.startsWith('grammar: ')), `cut rows name the grammar: ${reasons}`);
  await page.locator('#max-tokens').fill('16');
  await page.locator('#run').click();
  await page.waitForSelector('body[data-generating="0"]', { timeout: 60_000 });
  const text = await page.locator('#out-a').textContent();
  assert.ok(text === 'yes' || text === 'no', `the answer is one of the choices, got ${JSON.stringify(text)}`);
  assert.match(await page.locator('#gen-status').textContent(), /: stop$/);
  // The choice survives a reload through the link.
  assert.match(page.url(), /format=choice/);
  seq = await explainSeq(page);
  await page.locator('#format').selectOption('json');
  await nextExplain(page, seq);
  await typeInto(page, '#format-value', '{"type": "strin"}');
  assert.ok(await page.locator('#err-format').isVisible(), 'the schema error shows under Format');
  assert.match(await page.locator('#err-format').textContent(), /#\/type/);
  await done();
});

async function decodedSeconds(page, src) {
  return page.evaluate(async (url) => {
    const bytes = await (await fetch(url)).arrayBuffer();
    const audio = await new OfflineAudioContext(1, 1, 22050).decodeAudioData(bytes);
    let peak = 0;
    for (const x of audio.getChannelData(0)) peak = Math.max(peak, Math.abs(x));
    return { seconds: audio.duration, peak };
  }, src);
}

test('Speak plays a take that decodes to audio of plausible length', async () => {
  const { page, done } = await open();
  await page.locator('#speak').click();
  await page.waitForFunction(() => document.getElementById('audio').src.startsWith('blob:'), null, { timeout: 60_000 });
  const src = await page.locator('#audio').getAttribute('src');
  const { seconds, peak } = await decodedSeconds(page, src);
  const words = (await page.locator('#voice-text').inputValue()).split(/\s+/).length;
  // Speech runs at roughly 2 to 5 words a second.
  assert.ok(seconds > words / 5 && seconds < words / 1.5, `${seconds} s for ${words} words`);
  assert.ok(peak > 0.1, `audible, peak ${peak}`);
  assert.match(await page.locator('#voice-status').textContent(), /seed 1, \d+\.\d+ s/);
  await done();
});

test('3 takes: spread at stability 0, identical takes at stability 1', async () => {
  const { page, done } = await open();
  const takes = async (stability) => {
    await page.locator('#voice-stability-text').fill(String(stability));
    await page.locator('#takes').click();
    await page.waitForFunction((s) => document.getElementById('takes-summary').textContent.startsWith(`At stability ${s} `), stability, { timeout: 120_000 });
    const rows = await page.locator('#takes-table tbody tr').allInnerTexts();
    assert.equal(rows.length, 3);
    return rows.map((r) => Number(r.split('\t')[2]));
  };
  const creative = await takes(0);
  assert.ok(new Set(creative).size > 1, `creative takes differ in length: ${creative}`);
  assert.match(await page.locator('#takes-summary').textContent(), /pitch spread between takes \d/);
  await page.screenshot({ path: join(shots, 'takes.png'), fullPage: true });
  const robust = await takes(1);
  assert.equal(new Set(robust).size, 1, `robust takes are one take: ${robust}`);
  assert.match(await page.locator('#takes-summary').textContent(), /between takes 0\.00\./);
  await done();
});

test("a bad value shows the server's message next to its control, and nothing throws", async () => {
  const failedLoad = /Failed to load resource: the server responded with a status of (400|422)/;
  const { page, done } = await open('/', [failedLoad]);
  await typeInto(page, '#temperature-text', '5');
  const error = page.locator('#err-temperature');
  assert.equal(await error.isVisible(), true);
  assert.equal(await error.textContent(), '`temperature` = 5 is out of range (expected a number in [0, 2])');
  await typeInto(page, '#temperature-text', 'warm');
  assert.match(await error.textContent(), /^`temperature` must be a number/);
  await typeInto(page, '#temperature-text', '0.8');
  assert.equal(await error.isVisible(), false, 'a good value clears it');
  // The voice's errors come back in ElevenLabs' shape and land by their field too.
  await page.locator('#voice-speed-text').fill('3');
  await page.locator('#speak').click();
  await page.waitForSelector('#err-speed:not([hidden])', { timeout: 30_000 });
  assert.match(await page.locator('#err-speed').textContent(), /speed/);
  // Run B's errors land in its own box, not under A's controls.
  await page.locator('#compare').check();
  await page.locator('#compare-knobs').fill('temperature=9');
  await page.locator('#max-tokens').fill('4');
  await page.locator('#run').click();
  await page.waitForSelector('#err-compare:not([hidden])', { timeout: 30_000 });
  await page.waitForSelector('body[data-generating="0"]', { timeout: 30_000 });
  assert.match(await page.locator('#err-compare').textContent(), /`temperature` = 9 is out of range/);
  assert.equal(await page.locator('#err-temperature').isVisible(), false);
  // Run A ran to its end (its seed is random: its 4 tokens may hold an end of text, so the
  // status says how it ended, not its token count).
  const status = await page.locator('#gen-status').textContent();
  assert.match(status, /^seed \d+: (length|stop) \/ error$/, `run A still ran: ${status}`);
  await done();
});

test('every control has a name, text has legible contrast, and the chart is a table', async () => {
  const { page, done } = await open();
  await page.locator('#advanced summary').click();
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
    .map((el) => el.id || el.outerHTML.slice(0, 60)));
  assert.deepEqual(unnamed, [], 'controls without an accessible name');
  // WCAG 2 contrast of every visible text element against white or the panel colour.
  const low = await page.evaluate(() => {
    const lum = (rgb) => {
      const [r, g, b] = rgb.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((c) => {
        const s = c / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const backdrop = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const bg = getComputedStyle(e).backgroundColor;
        if (bg && !bg.startsWith('rgba(0, 0, 0, 0)') && bg !== 'transparent') return bg;
      }
      return 'rgb(255, 255, 255)';
    };
    const out = [];
    for (const el of document.querySelectorAll('body *')) {
      if (!el.offsetParent || ![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
      const a = lum(getComputedStyle(el).color);
      const b = lum(backdrop(el));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) out.push(`${el.tagName}#${el.id}.${el.className}: ${ratio.toFixed(2)}`);
    }
    return out;
  });
  assert.deepEqual(low, [], 'text under 4.5:1 contrast');
  assert.ok((await page.locator('#chart caption').textContent()).startsWith('Top 12 of'), 'the chart says what it shows');
  assert.equal(await page.locator('#chart thead th').count(), 4);
  await done();
});

test('with no model loaded, the page explains the note and can still speak', async () => {
  const voiceOnly = await startServer(['--no-model']);
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1400 } });
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${voiceOnly.url}/`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
    assert.match(await page.locator('#served').textContent(), /model none/);
    assert.equal(await page.locator('input[name=source][value=note]').isChecked(), true);
    assert.equal(await page.locator('#run').isDisabled(), true);
    const rows = await page.locator('#chart tbody tr').allTextContents();
    assert.equal(rows.length, 6);
    assert.ok(rows[0].startsWith('on'), rows[0]);
    const seq = await explainSeq(page);
    await page.locator('#temperature-range').focus();
    await page.keyboard.press('Home');
    await nextExplain(page, seq);
    assert.equal(await number(page, '#nucleus'), 1);
    await page.locator('#speak').click();
    await page.waitForFunction(() => document.getElementById('audio').src.startsWith('blob:'), null, { timeout: 60_000 });
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    voiceOnly.child.kill('SIGTERM');
  }
});

test('with two models served, the picker chooses the one explained, and the link keeps it', async () => {
  const two = await startServer(['--model', 'gemma3-270m', '--model', 'smollm2', '--no-voice']);
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1400 } });
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${two.url}/`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
    const options = await page.locator('#model option').allTextContents();
    assert.deepEqual(options, ['gemma-3-270m-q4_k_m (gemma3)', 'SmolLM2-135M-Instruct.Q4_1 (llama)']);
    assert.match(await page.locator('#served').textContent(), /2 models/);
    const gemmaRows = await page.locator('#chart tbody tr').allTextContents();
    const seq = await explainSeq(page);
    const sent = page.waitForRequest((r) => r.url().endsWith('/v1/explain'));
    await page.locator('#model').selectOption('SmolLM2-135M-Instruct.Q4_1');
    assert.equal(JSON.parse((await sent).postData()).model, 'SmolLM2-135M-Instruct.Q4_1');
    await nextExplain(page, seq);
    const smolRows = await page.locator('#chart tbody tr').allTextContents();
    assert.notDeepEqual(smolRows, gemmaRows, 'another model gives another distribution');
    assert.equal(new URL(page.url()).searchParams.get('model'), 'SmolLM2-135M-Instruct.Q4_1');
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
    assert.equal(await page.locator('#model').inputValue(), 'SmolLM2-135M-Instruct.Q4_1');
    assert.deepEqual(await page.locator('#chart tbody tr').allTextContents(), smolRows);
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    two.child.kill('SIGTERM');
  }
});
