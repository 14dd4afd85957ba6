// dial's playground. Every knob's name, range, default, slider and help come from the
// server (GET /v1/knobs), which reads them from each knob's own file; this script holds
// no second list of them, only which ones get the front row.

const FRONT_ROW = ['temperature', 'top_p', 'top_k', 'min_p', 'typical_p', 'repetition_penalty'];
const EXPLAIN_ROWS = 12;
const DEBOUNCE_MS = 120;

const $ = (id) => document.getElementById(id);
const doc = { knobs: null, voice: null, voiceId: null, voiceRate: null };
const lm = new Map(); // field name -> control
const voiceControls = new Map();
const values = new Map(); // field name -> text as typed (absent = not sent)
let explainSeq = 0;
let explainAbort = null;
let explainTimer = null;
let generation = null; // AbortController of the running Generate
const timings = { start: performance.now() };
window.dialTimings = timings;

// ---------- requests and errors ----------

function headers(json = true) {
  const h = {};
  if (json) h['content-type'] = 'application/json';
  const key = sessionStorage.getItem('dial-api-key');
  if (key) h.authorization = `Bearer ${key}`;
  return h;
}

async function request(path, body, signal) {
  const response = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  return response;
}

async function errorOf(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  return describeError(body, response.status);
}

// OpenAI's {error: {message, param}} and ElevenLabs' {detail: [...] | {status, message}},
// as a list of {param, message}.
function describeError(body, status) {
  if (body && body.error && typeof body.error === 'object') {
    return [{ param: body.error.param || null, message: body.error.message || `HTTP ${status}` }];
  }
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d) => ({
      param: Array.isArray(d.loc) ? String(d.loc[d.loc.length - 1]) : null,
      message: d.msg || `HTTP ${status}`,
    }));
  }
  if (body && body.detail && typeof body.detail === 'object') {
    const param = body.detail.status === 'empty_text' || body.detail.status === 'max_character_limit_exceeded' ? 'text' : null;
    return [{ param, message: body.detail.message || body.detail.status || `HTTP ${status}` }];
  }
  return [{ param: null, message: `the server answered HTTP ${status}` }];
}

const PARAM_ALIASES = { messages: 'prompt', 'messages[0].content': 'prompt', input: 'prompt', logits: 'explain' };

// `map` renames params to slots; `null` sends every error to `fallback` (run B's box).
function errorSlot(param, fallback, map) {
  if (map === null) return $(fallback);
  const name = param && param.startsWith('structured_outputs') ? 'format' : PARAM_ALIASES[param] || param;
  const id = map && map[name] ? map[name] : `err-${name}`;
  return (name && $(id)) || $(fallback);
}

function showErrors(errors, fallback, map) {
  for (const e of errors) {
    const slot = errorSlot(e.param, fallback, map);
    slot.textContent = e.param && slot.id === fallback ? `${e.param}: ${e.message}` : e.message;
    slot.hidden = false;
    const control = slot.closest('.knob');
    if (control) control.classList.add('invalid');
  }
}

function clearErrors(scope) {
  for (const el of $(scope).querySelectorAll('.error')) {
    el.hidden = true;
    el.textContent = '';
  }
  $('page-error').hidden = true;
}

function pageError(message) {
  $('page-error').textContent = message;
  $('page-error').hidden = false;
}

// ---------- controls built from the knobs' descriptions ----------

function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  return Number(x).toFixed(digits);
}

function restingValue(field) {
  if (field.off !== null && field.off !== undefined) return field.off;
  if (field.default !== null && field.default !== undefined) return field.default;
  return field.slider ? field.slider.min : 0;
}

function makeSlider(container, field, opts) {
  const { name, slider } = field;
  const wrap = document.createElement('div');
  wrap.className = 'knob';
  wrap.id = `knob-${opts.prefix}${name}`;
  const textId = `${opts.prefix}${name}-text`;
  const label = document.createElement('label');
  label.htmlFor = textId;
  label.textContent = name;
  const state = document.createElement('span');
  state.className = 'state';
  label.append(' ', state);
  const range = document.createElement('input');
  range.type = 'range';
  range.id = `${opts.prefix}${name}-range`;
  range.min = slider.min;
  range.max = slider.max;
  range.step = slider.step;
  range.setAttribute('aria-label', `${name} slider`);
  const text = document.createElement('input');
  text.type = 'text';
  text.inputMode = 'decimal';
  text.id = textId;
  text.autocomplete = 'off';
  const reset = document.createElement('button');
  reset.type = 'button';
  reset.className = 'small';
  reset.textContent = opts.resetLabel;
  reset.setAttribute('aria-label', `${opts.resetLabel} ${name}`);
  const help = document.createElement('p');
  help.className = 'help';
  help.id = `${opts.prefix}${name}-help`;
  help.textContent = field.help + (field.expected ? ` (${field.expected})` : '');
  const err = document.createElement('p');
  err.className = 'error';
  err.id = opts.errorId || `err-${name}`;
  err.setAttribute('role', 'alert');
  err.hidden = true;
  text.setAttribute('aria-describedby', `${help.id} ${err.id}`);
  range.setAttribute('aria-describedby', `${help.id} ${err.id}`);
  wrap.append(label, range, text, reset);
  if (opts.marks) {
    const marks = document.createElement('div');
    marks.className = 'marks';
    marks.setAttribute('aria-hidden', 'true');
    for (const m of opts.marks) {
      const s = document.createElement('span');
      s.textContent = `${m.label} ${m.value}`;
      marks.append(s);
    }
    wrap.append(marks);
    range.setAttribute('aria-valuetext', '');
  }
  wrap.append(help, err);
  container.append(wrap);
  return { field, wrap, range, text, state, err, reset };
}

function syncControl(c, value, isSet) {
  const shown = isSet ? value : String(restingValue(c.field));
  c.text.value = shown;
  const n = Number(shown);
  if (shown.trim() !== '' && Number.isFinite(n)) c.range.value = String(n);
  const on = isSet && c.field.off !== undefined && c.field.off !== null ? n !== c.field.off : isSet;
  c.wrap.classList.toggle('on', on);
  if (c.field.off !== undefined && c.field.off !== null) {
    c.state.textContent = on ? '' : '(off)';
  }
}

function buildKnobs() {
  const front = $('primary-knobs');
  const advanced = $('advanced-knobs');
  const notShown = [];
  const byName = new Map();
  for (const knob of doc.knobs.knobs) {
    for (const field of knob.fields) byName.set(field.name, { field, knob });
  }
  for (const field of doc.knobs.chain.fields) byName.set(field.name, { field, knob: null });
  // A knob's box: its label and control, its help, and where its error shows.
  const knobBox = (name, field, container, label, control) => {
    const wrap = document.createElement('div');
    wrap.className = 'knob';
    const help = document.createElement('p');
    help.className = 'help';
    help.textContent = field.help;
    const err = document.createElement('p');
    err.className = 'error';
    err.id = `err-${name}`;
    err.hidden = true;
    wrap.append(...[label, control, help, err].filter(Boolean));
    container.append(wrap);
    return { wrap, err };
  };
  const place = (name, container) => {
    const { field } = byName.get(name);
    if (field.kind === 'bool') {
      const label = document.createElement('label');
      label.className = 'inline';
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.id = `${name}-box`;
      label.append(box, ` ${name}`);
      const { wrap, err } = knobBox(name, field, container, label, null);
      box.addEventListener('change', () => {
        values.set(name, box.checked ? 'true' : 'false');
        changed();
      });
      lm.set(name, { field, box, wrap, err });
      return;
    }
    if (LIST_KINDS.includes(field.kind)) {
      // A list (phrases one per line, token ids separated by commas), or one text.
      const label = document.createElement('label');
      label.htmlFor = `${name}-list`;
      label.textContent = { strings: `${name} (one per line)`, token_ids: `${name} (ids, comma-separated)`, text: name }[field.kind];
      const box = document.createElement(field.kind === 'strings' ? 'textarea' : 'input');
      box.id = `${name}-list`;
      if (field.kind === 'strings') box.rows = 2;
      const { wrap, err } = knobBox(name, field, container, label, box);
      box.addEventListener('input', () => {
        if (box.value.trim() === '') values.delete(name);
        else values.set(name, box.value);
        changed();
      });
      lm.set(name, { field, list: box, wrap, err });
      return;
    }
    const c = makeSlider(container, field, { prefix: '', resetLabel: field.off !== null && field.off !== undefined ? 'off' : 'reset' });
    c.range.addEventListener('input', () => {
      values.set(name, c.range.value);
      syncControl(c, c.range.value, true);
      changed();
    });
    c.text.addEventListener('input', () => {
      if (c.text.value.trim() === '') values.delete(name);
      else values.set(name, c.text.value);
      const n = Number(c.text.value);
      if (Number.isFinite(n) && c.text.value.trim() !== '') c.range.value = String(n);
      changed();
    });
    c.reset.addEventListener('click', () => {
      values.delete(name);
      syncControl(c, '', false);
      changed();
    });
    lm.set(name, c);
  };
  for (const name of FRONT_ROW) if (byName.has(name)) place(name, front);
  for (const [name, { field }] of byName) {
    if (FRONT_ROW.includes(name)) continue;
    if (field.slider || field.kind === 'bool' || LIST_KINDS.includes(field.kind)) place(name, advanced);
    else notShown.push(name);
  }
  if (notShown.length) {
    const p = document.createElement('p');
    p.className = 'help';
    p.textContent = `Through the API only (lists and text): ${notShown.join(', ')}.`;
    advanced.append(p);
  }
  const order = $('order');
  for (const choice of doc.knobs.order.choices) {
    const o = document.createElement('option');
    o.value = choice;
    o.textContent = choice;
    order.append(o);
  }
  order.value = doc.knobs.order.default;
  $('order-help').textContent = doc.knobs.order.field.help;
  order.addEventListener('change', changed);
}

function buildVoice() {
  const v = doc.knobs.voice;
  const box = $('voice-knobs');
  for (const name of ['stability', 'speed']) {
    const spec = v[name];
    const field = {
      name,
      help: spec.help,
      expected: `${spec.min} to ${spec.max}`,
      default: spec.default,
      off: null,
      slider: { min: spec.min, max: spec.max, step: spec.step },
    };
    const c = makeSlider(box, field, { prefix: 'voice-', resetLabel: 'reset', marks: spec.marks, errorId: `err-${name}` });
    c.range.addEventListener('input', () => {
      c.text.value = c.range.value;
      markStability(c);
      writeUrl();
    });
    c.text.addEventListener('input', () => {
      const n = Number(c.text.value);
      if (Number.isFinite(n) && c.text.value.trim() !== '') c.range.value = String(n);
      markStability(c);
      writeUrl();
    });
    c.reset.addEventListener('click', () => {
      c.text.value = String(spec.default);
      c.range.value = String(spec.default);
      markStability(c);
      writeUrl();
    });
    c.text.value = String(spec.default);
    c.range.value = String(spec.default);
    c.marks = spec.marks;
    voiceControls.set(name, c);
    markStability(c);
  }
}

function markStability(c) {
  if (!c.marks) return;
  const n = Number(c.text.value);
  const nearest = c.marks.reduce((a, m) => (Math.abs(m.value - n) < Math.abs(a.value - n) ? m : a), c.marks[0]);
  const text = Number.isFinite(n) ? `${n} (${Math.abs(nearest.value - n) < 1e-9 ? nearest.label : `near ${nearest.label}`})` : c.text.value;
  c.range.setAttribute('aria-valuetext', text);
  c.state.textContent = Number.isFinite(n) ? (Math.abs(nearest.value - n) < 1e-9 ? nearest.label : '') : '';
}

// ---------- the request's knobs ----------

// Request fields the page edits as typed text: lists, and plain text.
const LIST_KINDS = ['strings', 'token_ids', 'text'];

const NUMBER = /^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

// What was typed goes to the server as is: a number when it reads as one, else the text,
// so the server (not this page) says what is wrong with it.
function typed(text) {
  return NUMBER.test(text) ? Number(text) : text;
}

function knobParams() {
  const params = {};
  for (const [name, text] of values) {
    const c = lm.get(name);
    if (c && c.field.kind === 'bool') params[name] = text === 'true';
    else if (c && c.field.kind === 'strings') params[name] = text.split('\n').filter((line) => line !== '');
    else if (c && c.field.kind === 'token_ids') params[name] = text.split(',').map((id) => typed(id.trim()));
    else if (c && c.field.kind === 'text') params[name] = text;
    else params[name] = typed(text);
  }
  params.order = $('order').value;
  return params;
}

// ---------- the output's format: a constraint, the chain's first stage ----------

function buildFormat() {
  const select = $('format');
  const none = document.createElement('option');
  none.value = '';
  none.textContent = 'none (free text)';
  select.append(none);
  for (const kind of doc.knobs.constraints.kinds) {
    const o = document.createElement('option');
    o.value = kind.name;
    o.textContent = kind.label;
    select.append(o);
  }
  select.addEventListener('change', () => {
    const kind = doc.knobs.constraints.kinds.find((k) => k.name === select.value);
    if (kind && $('format-value').dataset.kind !== kind.name) $('format-value').value = kind.example;
    showFormat();
    changed();
  });
  $('format-value').addEventListener('input', changed);
  showFormat();
}

function showFormat() {
  const kind = doc.knobs.constraints.kinds.find((k) => k.name === $('format').value);
  $('format-value').hidden = !kind || kind.example === '';
  $('format-value').dataset.kind = kind ? kind.name : '';
  $('format-help').textContent = kind ? `${kind.help} Applies to the next-token view (with the model) and to Generate.` : doc.knobs.constraints.summary;
}

// The `structured_outputs` field for the chosen format; throws with a message when its
// value cannot be sent.
function formatParams() {
  const name = $('format').value;
  if (!name) return {};
  const text = $('format-value').value;
  let value;
  if (name === 'json') {
    try { value = JSON.parse(text); } catch (e) { throw new Error(`the schema is not JSON: ${e.message}`); }
  } else if (name === 'choice') {
    value = text.split('\n').filter((line) => line !== '');
  } else if (name === 'json_object') {
    value = true;
  } else {
    value = text;
  }
  return { structured_outputs: { [name]: value } };
}

function seedValue() {
  const text = $('seed').value.trim();
  return text === '' ? undefined : typed(text);
}

function parseKnobString(s) {
  const out = {};
  for (const part of s.split(/[\s,]+/).filter(Boolean)) {
    const at = part.indexOf('=');
    if (at <= 0) throw new Error(`"${part}" is not name=value`);
    out[part.slice(0, at).replace(/-/g, '_')] = typed(part.slice(at + 1));
  }
  return out;
}

function randomSeed() {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  return (words[0] & 0x1fffff) * 2 ** 32 + words[1]; // 53 bits: exact in JSON numbers
}

// ---------- the link ----------

function writeUrl() {
  const q = new URLSearchParams();
  q.set('source', document.querySelector('input[name=source]:checked').value);
  q.set('prompt', $('prompt').value);
  if (doc.modelId && $('model').options.length > 1) q.set('model', doc.modelId);
  for (const [name, text] of values) q.set(name, text);
  if ($('order').value !== doc.knobs.order.default) q.set('order', $('order').value);
  if ($('format').value) {
    q.set('format', $('format').value);
    q.set('format_value', $('format-value').value);
  }
  if ($('seed').value.trim() !== '') q.set('seed', $('seed').value.trim());
  if ($('seed-pinned').checked) q.set('pinned', '1');
  q.set('max_tokens', $('max-tokens').value);
  if ($('compare').checked) q.set('compare', $('compare-knobs').value);
  q.set('voice_text', $('voice-text').value);
  for (const [name, c] of voiceControls) q.set(`voice_${name}`, c.text.value);
  q.set('voice_seed', $('voice-seed').value);
  history.replaceState(null, '', `${location.pathname}?${q.toString()}`);
}

function readUrl() {
  const q = new URLSearchParams(location.search);
  if (q.get('source') === 'note') document.querySelector('input[name=source][value=note]').checked = true;
  if (q.has('prompt')) $('prompt').value = q.get('prompt');
  if (q.has('model') && [...$('model').options].some((o) => o.value === q.get('model'))) {
    $('model').value = q.get('model');
    doc.modelId = q.get('model');
  }
  for (const [name, c] of lm) {
    if (!q.has(name)) continue;
    values.set(name, q.get(name));
    if (c.box) c.box.checked = q.get(name) === 'true';
    else if (c.list) c.list.value = q.get(name);
    else syncControl(c, q.get(name), true);
    if (!FRONT_ROW.includes(name)) $('advanced').open = true;
  }
  if (q.has('order')) $('order').value = q.get('order');
  if (q.has('format') && doc.knobs.constraints.kinds.some((k) => k.name === q.get('format'))) {
    $('format').value = q.get('format');
    $('format-value').value = q.get('format_value') || '';
    $('format-value').dataset.kind = q.get('format');
    showFormat();
  }
  if (q.has('seed')) $('seed').value = q.get('seed');
  $('seed-pinned').checked = q.get('pinned') === '1';
  if (q.has('max_tokens')) $('max-tokens').value = q.get('max_tokens');
  if (q.has('compare')) {
    $('compare').checked = true;
    $('compare-knobs').value = q.get('compare');
  }
  if (q.has('voice_text')) $('voice-text').value = q.get('voice_text');
  for (const [name, c] of voiceControls) {
    if (!q.has(`voice_${name}`)) continue;
    c.text.value = q.get(`voice_${name}`);
    const n = Number(c.text.value);
    if (Number.isFinite(n)) c.range.value = String(n);
    markStability(c);
  }
  if (q.has('voice_seed')) $('voice-seed').value = q.get('voice_seed');
}

// ---------- explain ----------

function changed() {
  writeUrl();
  clearTimeout(explainTimer);
  explainTimer = setTimeout(explain, DEBOUNCE_MS);
}

function explainBody() {
  const body = { ...knobParams(), top: EXPLAIN_ROWS };
  if (document.querySelector('input[name=source]:checked').value !== 'note') Object.assign(body, formatParams());
  const seed = seedValue();
  if (seed !== undefined) body.seed = seed;
  if (document.querySelector('input[name=source]:checked').value === 'note') {
    body.logits = doc.knobs.note_example.logits;
    body.tokens = doc.knobs.note_example.tokens;
  } else {
    body.model = doc.modelId;
    body.messages = [{ role: 'user', content: $('prompt').value }];
  }
  return body;
}

async function explain() {
  const seq = ++explainSeq;
  if (explainAbort) explainAbort.abort();
  explainAbort = new AbortController();
  const started = performance.now();
  let body;
  try {
    body = explainBody();
  } catch (e) {
    clearErrors('knobs');
    showErrors([{ param: null, message: e.message }], 'err-format');
    document.body.dataset.explain = `error-${seq}`;
    return;
  }
  let response;
  try {
    response = await request('/v1/explain', body, explainAbort.signal);
  } catch (e) {
    if (e.name === 'AbortError') return;
    clearErrors('knobs');
    showErrors([{ param: null, message: `explain failed: ${e.message}` }], 'err-explain');
    return;
  }
  if (seq !== explainSeq) return;
  for (const c of lm.values()) c.wrap.classList.remove('invalid');
  clearErrors('knobs');
  $('err-explain').hidden = true;
  if (!response.ok) {
    const errors = await errorOf(response);
    if (seq === explainSeq) showErrors(errors, 'err-explain');
    document.body.dataset.explain = `error-${seq}`;
    return;
  }
  let report;
  try {
    report = await response.json();
  } catch (e) {
    showErrors([{ param: null, message: `explain answered something unreadable: ${e.message}` }], 'err-explain');
    return;
  }
  if (seq !== explainSeq) return;
  timings.lastExplainMs = performance.now() - started;
  timings.lastExplainCache = response.headers.get('x-dial-cache');
  render(report);
  // Since navigation start, as the paint timings are.
  if (timings.firstChart === undefined) timings.firstChart = performance.now();
  document.body.dataset.explain = String(seq);
}

function tokenLabel(row) {
  const t = row.text === null || row.text === undefined ? `#${row.id}` : row.text;
  // Escapes as JSON does (\n, \t), and shows spaces, which lead most tokens, as ␣.
  return JSON.stringify(t).slice(1, -1).replace(/ /g, '␣') || '∅';
}

function render(r) {
  $('entropy-before').textContent = `${fmt(r.entropy_bits_before)} bits`;
  $('entropy-after').textContent = `${fmt(r.entropy_bits_after)} bits`;
  $('effective').textContent = fmt(r.perplexity_after, 2);
  $('nucleus').textContent = String(r.nucleus_size);
  $('kept-mass').textContent = fmt(r.kept_mass);
  const tbody = $('chart').querySelector('tbody');
  tbody.replaceChildren();
  const scale = Math.max(1e-12, ...r.rows.map((x) => Math.max(x.p, x.p_raw)));
  for (const row of r.rows) {
    const tr = document.createElement('tr');
    tr.className = row.kept ? 'kept' : 'cut';
    tr.dataset.id = row.id;
    const token = document.createElement('td');
    token.className = 'token';
    token.textContent = tokenLabel(row);
    const nums = document.createElement('td');
    nums.className = 'nums';
    nums.textContent = row.kept ? `${fmt(row.p_raw)} → ${fmt(row.p)}` : `${fmt(row.p_raw)} → 0`;
    const bars = document.createElement('td');
    bars.className = 'bars';
    bars.setAttribute('aria-hidden', 'true');
    const raw = document.createElement('span');
    raw.className = 'bar raw';
    raw.style.width = `${(100 * row.p_raw) / scale}%`;
    const after = document.createElement('span');
    after.className = 'bar after';
    after.style.width = `${(100 * row.p) / scale}%`;
    bars.append(raw, after);
    const why = document.createElement('td');
    why.className = 'reason';
    why.textContent = row.cut ? `${row.cut.stage}: ${row.cut.reason}` : '';
    tr.append(token, nums, bars, why);
    tbody.append(tr);
  }
  if (r.rest) {
    const tr = document.createElement('tr');
    tr.className = 'rest';
    const td = document.createElement('td');
    td.colSpan = 4;
    td.textContent = `${r.rest.tokens} more tokens: ${fmt(r.rest.p_raw)} of the mass before, ${fmt(r.rest.p)} after (${r.rest.kept} kept)`;
    tr.append(td);
    tbody.append(tr);
  }
  $('chart-caption').textContent = `Top ${r.rows.length} of ${r.live} tokens, before and after the knobs (${r.order})`;
  const stages = $('stages');
  stages.replaceChildren();
  const first = document.createElement('li');
  first.innerHTML = '<strong>model</strong>';
  first.append(`${r.live} tokens, ${fmt(r.entropy_bits_before)} bits`);
  stages.append(first);
  r.trace.forEach((t, i) => {
    const li = document.createElement('li');
    const strong = document.createElement('strong');
    strong.textContent = `${t.stage} ${r.chain[i] ? r.chain[i].setting : ''}`;
    const mass = document.createElement('span');
    mass.className = 'mass';
    mass.style.width = `${100 * t.mass_kept}%`;
    mass.setAttribute('aria-hidden', 'true');
    li.append(strong, `cut ${t.removed}, ${t.remaining} left, kept ${fmt(100 * t.mass_kept, 1)} % of the mass, ${fmt(t.entropy_bits)} bits`, mass);
    stages.append(li);
  });
  if (!r.trace.length) {
    const li = document.createElement('li');
    li.textContent = 'no knob is set: the draw is from the model as it is';
    stages.append(li);
  }
  const d = r.order_difference;
  $('order-note').textContent = d
    ? `Order matters here: temperature-first keeps ${d.temperature_first.length} tokens, temperature-last keeps ${d.temperature_last.length}.`
    : '';
}

// ---------- generate ----------

function tokenColour(p) {
  return `hsl(${Math.round(120 * p)} 75% 84%)`;
}

function showTokenInfo(info) {
  const box = $('token-info');
  box.replaceChildren();
  const head = document.createElement('p');
  const pDrawn = Math.exp(info.logprob);
  const pRaw = info.raw_logprob === null || info.raw_logprob === undefined ? null : Math.exp(info.raw_logprob);
  head.textContent = `${JSON.stringify(info.token)}: drawn with p = ${fmt(pDrawn, 4)}` +
    (pRaw === null ? '' : ` (the model alone: ${fmt(pRaw, 4)})`) +
    (info.kept === undefined ? '' : `, from ${info.kept} kept tokens`) +
    (info.entropy_after === undefined ? '' : `, entropy ${fmt(info.entropy_before)} → ${fmt(info.entropy_after)} bits`);
  const table = document.createElement('table');
  const caption = document.createElement('caption');
  caption.textContent = 'The distribution it was drawn from, top alternatives';
  table.append(caption);
  for (const alt of info.top) {
    const tr = document.createElement('tr');
    const a = document.createElement('td');
    a.textContent = JSON.stringify(alt.token);
    const b = document.createElement('td');
    b.textContent = fmt(Math.exp(alt.logprob), 4);
    tr.append(a, b);
    table.append(tr);
  }
  box.append(head, table);
  box.hidden = false;
}

function appendToken(out, text, info) {
  const span = document.createElement('span');
  span.className = 'tok';
  span.tabIndex = 0;
  span.textContent = text;
  if (info) {
    const p = Math.exp(info.logprob);
    span.style.background = tokenColour(p);
    span.dataset.p = String(p);
    span.setAttribute('aria-label', `${text}, p ${fmt(p, 3)}`);
    const show = () => showTokenInfo(info);
    span.addEventListener('mouseenter', show);
    span.addEventListener('focus', show);
  }
  out.append(span);
}

async function stream(body, out, signal, errorSlotId) {
  const response = await request('/v1/chat/completions', body, signal);
  if (!response.ok) {
    showErrors(await errorOf(response), errorSlotId, errorSlotId === 'err-compare' ? null : undefined);
    return 'error';
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let finish = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let at;
    while ((at = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        const data = line.slice(6);
        if (data === '[DONE]') return finish || 'done';
        const chunk = JSON.parse(data);
        if (chunk.error) {
          showErrors(describeError(chunk, 200), errorSlotId, null);
          return 'error';
        }
        const choice = chunk.choices && chunk.choices[0];
        if (!choice) continue;
        if (choice.finish_reason) finish = choice.finish_reason;
        const text = choice.delta && choice.delta.content;
        if (!text) continue;
        const lp = choice.logprobs && choice.logprobs.content && choice.logprobs.content[0];
        const dial = choice.delta.dial || {};
        appendToken(out, text, lp && {
          token: lp.token,
          logprob: lp.logprob,
          raw_logprob: dial.raw_logprob,
          kept: dial.kept,
          entropy_before: dial.entropy_bits_before,
          entropy_after: dial.entropy_bits_after,
          top: lp.top_logprobs || [],
        });
      }
    }
  }
  return finish || 'closed';
}

async function generate() {
  clearErrors('generate');
  clearErrors('knobs');
  if (!$('seed-pinned').checked || $('seed').value.trim() === '') $('seed').value = String(randomSeed());
  writeUrl();
  const base = {
    model: doc.modelId,
    messages: [{ role: 'user', content: $('prompt').value }],
    stream: true,
    logprobs: true,
    top_logprobs: 5,
    max_tokens: typed($('max-tokens').value),
    seed: seedValue(),
    dial: { logprobs: 'processed', entropy: true },
    ...knobParams(),
  };
  try {
    Object.assign(base, formatParams());
  } catch (e) {
    showErrors([{ param: null, message: e.message }], 'err-format');
    return;
  }
  const runs = [{ body: base, out: $('out-a'), slot: 'err-generate' }];
  const two = $('compare').checked;
  $('col-b').hidden = !two;
  $('outputs').classList.toggle('two', two);
  if (two) {
    let extra;
    try {
      extra = parseKnobString($('compare-knobs').value);
    } catch (e) {
      showErrors([{ param: null, message: e.message }], 'err-compare');
      return;
    }
    runs.push({ body: { ...base, ...extra }, out: $('out-b'), slot: 'err-compare' });
    $('out-a-title').textContent = 'A: the knobs above';
    $('out-b-title').textContent = `B: ${$('compare-knobs').value}`;
  } else {
    $('out-a-title').textContent = 'A';
  }
  for (const r of runs) r.out.replaceChildren();
  generation = new AbortController();
  const signal = generation.signal;
  $('run').disabled = true;
  $('stop').disabled = false;
  $('gen-status').textContent = `generating with seed ${base.seed}…`;
  document.body.dataset.generating = '1';
  const results = await Promise.all(runs.map((r) => stream(r.body, r.out, signal, r.slot).catch((e) => {
    if (e.name === 'AbortError') return 'stopped';
    showErrors([{ param: null, message: `the stream broke: ${e.message}` }], r.slot);
    return 'error';
  })));
  $('run').disabled = false;
  $('stop').disabled = true;
  generation = null;
  document.body.dataset.generating = '0';
  $('gen-status').textContent = `seed ${base.seed}: ${results.join(' / ')}`;
}

function stop() {
  if (generation) generation.abort();
}

// ---------- voice ----------

function voiceBody() {
  const settings = {};
  for (const [name, c] of voiceControls) settings[name] = typed(c.text.value);
  return { text: $('voice-text').value, seed: typed($('voice-seed').value), voice_settings: settings };
}

const VOICE_ERRORS = { seed: 'err-voice-seed', text: 'err-text' };

// Sends a voice request; the response when it succeeded, else null with the errors shown.
async function voiceRequest(path, body, status) {
  clearErrors('voice');
  if (!doc.voiceId) return null;
  $('voice-status').textContent = status;
  let response;
  try {
    response = await request(`/v1/text-to-speech/${encodeURIComponent(doc.voiceId)}${path}`, body);
  } catch (e) {
    showErrors([{ param: null, message: e.message }], 'err-voice');
    return null;
  }
  if (!response.ok) {
    showErrors(await errorOf(response), 'err-voice', VOICE_ERRORS);
    $('voice-status').textContent = '';
    return null;
  }
  return response;
}

async function speak() {
  $('takes-table').hidden = true;
  $('takes-summary').textContent = '';
  const response = await voiceRequest(`?output_format=wav_${doc.voiceRate}`, voiceBody(), 'speaking…');
  if (!response) return;
  const blob = await response.blob();
  play([URL.createObjectURL(blob)]);
  $('voice-status').textContent = `seed ${response.headers.get('x-dial-seed')}, ${response.headers.get('x-dial-duration-seconds')} s`;
}

function play(urls) {
  const audio = $('audio');
  let i = 0;
  const next = () => {
    if (i >= urls.length) {
      audio.onended = null;
      return;
    }
    audio.src = urls[i++];
    audio.play().catch(() => { /* autoplay refused: the controls still play it */ });
  };
  audio.onended = next;
  next();
}

function base64Blob(b64, type) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Blob([bytes], { type });
}

async function takes() {
  const response = await voiceRequest('/takes', { ...voiceBody(), takes: 3 }, 'three takes…');
  if (!response) return;
  const r = await response.json();
  const urls = r.takes.map((t) => URL.createObjectURL(base64Blob(t.audio_base64, 'audio/wav')));
  const tbody = $('takes-table').querySelector('tbody');
  tbody.replaceChildren();
  r.takes.forEach((t, i) => {
    const tr = document.createElement('tr');
    for (const v of [i + 1, t.seed, fmt(t.seconds, 3), fmt(t.f0_mean_hz, 1), fmt(t.f0_std_hz, 1), fmt(t.log_mel_distance_to_robust, 2)]) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    const td = document.createElement('td');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'small';
    b.textContent = 'play';
    b.setAttribute('aria-label', `play take ${i + 1}`);
    b.addEventListener('click', () => play([urls[i]]));
    td.append(b);
    tr.append(td);
    tbody.append(tr);
  });
  $('takes-table').hidden = false;
  const v = r.variation;
  $('takes-summary').textContent =
    `At stability ${r.stability} (noise ×${fmt(r.noise_factor, 2)}): durations ${fmt(v.duration_mean_s, 3)} ± ${fmt(v.duration_std_s, 3)} s, ` +
    `pitch spread between takes ${fmt(v.f0_std_between_takes_hz, 2)} Hz (within a take ${fmt(v.f0_contour_spread_hz, 1)} Hz), ` +
    `log-mel distance between takes ${fmt(v.log_mel_distance_between_takes, 2)}. ` +
    (r.stability >= 1 ? 'Robust: every seed gives the same take.' : 'Lower stability, wider spread.');
  $('voice-status').textContent = `seeds ${r.takes.map((t) => t.seed).join(', ')}`;
  play(urls);
}

// ---------- start ----------

async function start() {
  const key = $('api-key');
  key.value = sessionStorage.getItem('dial-api-key') || '';
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem('dial-api-key', key.value);
    location.reload();
  });
  let knobs;
  try {
    const [k, models, voices] = await Promise.all([request('/v1/knobs'), request('/v1/models'), request('/v1/voices')]);
    if (k.status === 401) {
      $('key-box').open = true;
      pageError('This server needs an API key: enter it under "API key".');
      $('served').textContent = 'not connected';
      return;
    }
    if (!k.ok) throw new Error(`GET /v1/knobs answered HTTP ${k.status}`);
    knobs = await k.json();
    const m = models.ok ? await models.json() : { data: [] };
    const v = voices.ok ? await voices.json() : { voices: [] };
    doc.modelId = m.data[0] ? m.data[0].id : undefined;
    for (const model of m.data) {
      const option = document.createElement('option');
      option.value = model.id;
      option.textContent = `${model.id} (${model.dial.architecture})`;
      $('model').append(option);
    }
    const voice = v.voices[0];
    doc.voiceId = voice ? voice.voice_id : null;
    doc.voiceRate = voice ? voice.labels.sample_rate : null;
    $('served').textContent = `${m.data.length > 1 ? `${m.data.length} models` : `model ${doc.modelId || 'none'}`} · voice ${doc.voiceId || 'none'}`;
  } catch (e) {
    pageError(`Cannot reach the server: ${e.message}`);
    return;
  }
  doc.knobs = knobs;
  $('prompt').value = knobs.playground.default_prompt;
  buildKnobs();
  buildFormat();
  buildVoice();
  readUrl();
  if (!doc.modelId) {
    // A voice-only server: the chart explains the note's six tokens, which need no model.
    document.querySelector('input[name=source][value=note]').checked = true;
    document.querySelector('input[name=source][value=model]').disabled = true;
    $('prompt').disabled = true;
    $('model').disabled = true;
    $('run').disabled = true;
    $('prompt-help').textContent = "This server runs with no language model (dial serve --no-model): the chart explains the note's six tokens.";
    $('gen-status').textContent = 'no language model on this server';
  }
  if (!doc.voiceId) {
    $('voice-state').textContent = 'This server runs without a voice (dial serve --no-voice).';
    $('speak').disabled = true;
    $('takes').disabled = true;
  }
  for (const [name, c] of lm) if (!c.box && !c.list && !values.has(name)) syncControl(c, '', false);
  $('prompt').addEventListener('input', changed);
  $('model').addEventListener('change', () => {
    doc.modelId = $('model').value;
    changed();
  });
  for (const r of document.querySelectorAll('input[name=source]')) r.addEventListener('change', changed);
  $('seed').addEventListener('input', changed);
  $('seed-pinned').addEventListener('change', writeUrl);
  $('new-seed').addEventListener('click', () => {
    $('seed').value = String(randomSeed());
    changed();
  });
  $('reset').addEventListener('click', () => {
    values.clear();
    for (const c of lm.values()) {
      if (c.box) c.box.checked = false;
      else if (c.list) c.list.value = '';
      else syncControl(c, '', false);
    }
    $('order').value = knobs.order.default;
    changed();
  });
  $('copy-link').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      $('copied').textContent = 'link copied';
    } catch {
      $('copied').textContent = 'the address bar holds the link';
    }
  });
  for (const id of ['max-tokens', 'compare-knobs', 'voice-text', 'voice-seed']) $(id).addEventListener('input', writeUrl);
  $('compare').addEventListener('change', writeUrl);
  $('run').addEventListener('click', generate);
  $('stop').addEventListener('click', stop);
  $('speak').addEventListener('click', speak);
  $('takes').addEventListener('click', takes);
  writeUrl();
  await explain();
  document.body.dataset.ready = '1';
}

window.addEventListener('unhandledrejection', (e) => {
  e.preventDefault();
  pageError(`Something failed: ${e.reason && e.reason.message ? e.reason.message : e.reason}`);
});

start();
