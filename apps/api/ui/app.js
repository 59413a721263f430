// rds-select web UI: plain DOM, no framework, no build. Everything from the server is inserted as
// text (textContent / attributes), never as HTML.

const TOKEN_KEY = 'rds-api-token';
const POLL_MS = 1000;
const PAGE_SIZE = 20;
const SVG = 'http://www.w3.org/2000/svg';

const main = document.getElementById('main');
let stopPolling = () => {};

// ---------- helpers ----------

/**
 * Element with attributes and children (strings become text nodes).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any>} [attrs]
 * @param {...any} children
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity))
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.issues = body?.issues ?? [];
  }
}

async function api(method, url, body) {
  const headers = { authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401) showTokenState('token rejected: enter a valid token');
    throw new ApiError(res.status, json);
  }
  return json;
}

function showTokenState(text) {
  document.getElementById('token-state').textContent = text;
}

function fmt(n, digits = 3) {
  if (n === null || n === undefined) return '–';
  return Number.isInteger(n) ? n.toLocaleString('en') : n.toFixed(digits);
}

function stateBadge(state) {
  return h('span', { class: `state state-${state}`, 'data-state': state }, state);
}

/**
 * Polls `fn` every POLL_MS until the view changes or `fn` calls the stop function it is given (its
 * own poller's, so a late response cannot stop the next view's poller); one poller at a time.
 */
function poll(fn) {
  stopPolling();
  let stopped = false;
  let timer;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  const tick = async () => {
    if (stopped) return;
    try {
      await fn(stop);
    } catch (err) {
      if (!(err instanceof ApiError)) console.error(err);
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  };
  stopPolling = stop;
  void tick();
}

// ---------- form generated from the run-config JSON Schema ----------

/**
 * The part of a JSON Schema (as the server's /v1/schema/run-config serves it) the form reads.
 * @typedef {{
 *   type?: string, properties?: Record<string, JsonSchema>, required?: string[], items?: JsonSchema,
 *   additionalProperties?: boolean | JsonSchema, oneOf?: JsonSchema[], anyOf?: JsonSchema[],
 *   enum?: string[], const?: unknown, default?: any, description?: string, pattern?: string,
 *   minimum?: number, exclusiveMinimum?: number, minItems?: number,
 * }} JsonSchema
 */

/**
 * A form control: its element, and read() giving the value (undefined when left empty, so the
 * server's default applies).
 * @typedef {{ el: HTMLElement, read: () => any }} Field
 */

/**
 * JSON paths written like the server's issue paths (`a.b[2].c`), so 400s land on their field.
 * @param {string} base
 * @param {string | number} key
 * @returns {string}
 */
function joinPath(base, key) {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

/**
 * @param {JsonSchema} schema
 * @returns {string}
 */
function describeConstraints(schema) {
  const parts = [];
  if (schema.pattern) parts.push(`pattern ${schema.pattern}`);
  if (schema.exclusiveMinimum !== undefined) parts.push(`> ${schema.exclusiveMinimum}`);
  if (schema.minimum !== undefined && schema.minimum !== 0) parts.push(`>= ${schema.minimum}`);
  return parts.join(', ');
}

/**
 * @param {string} path
 * @param {string} label
 * @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} control
 * @param {JsonSchema} schema
 * @param {boolean} required
 * @returns {HTMLElement}
 */
function fieldRow(path, label, control, schema, required) {
  const id = `f-${path.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  control.id = id;
  control.dataset.path = path;
  control.name = path;
  if (required) control.required = true;
  const hint = describeConstraints(schema);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label + (required ? ' *' : '')),
    control,
    hint ? h('div', { class: 'hint' }, hint) : null,
    h('div', { class: 'error', 'data-error-for': path }),
  );
}

/**
 * Builds the control for `schema` at `path` and returns { el, read }, where read() gives the value
 * (undefined when left empty, so server-side defaults apply).
 * @param {JsonSchema} schema
 * @param {string} path
 * @param {string} label
 * @param {boolean} required
 * @param {any} initial
 * @returns {Field}
 */
function buildField(schema, path, label, required, initial) {
  const value = initial !== undefined ? initial : schema.default;
  if (schema.oneOf) return buildUnion(schema, path, label, value);
  // Nullable fields (anyOf [T, null], e.g. contamination.minSimilarity): T's control; left empty, the
  // server's default applies (a form cannot type null; the JSON config can).
  const nonNull = schema.anyOf?.filter((v) => v.type !== 'null');
  if (nonNull?.length === 1)
    return buildField(
      { ...nonNull[0], description: schema.description, default: schema.default ?? undefined },
      path,
      label,
      required,
      initial ?? undefined,
    );
  // `false | {...}` (e.g. cache: false turns the embedding cache off): the object's fields and an "off" box.
  const offVariant = schema.anyOf?.find((v) => v.const === false);
  const objVariant = schema.anyOf?.find((v) => v.type === 'object');
  if (schema.anyOf?.length === 2 && offVariant && objVariant) {
    const off = h('input', { type: 'checkbox', checked: value === false });
    const inner = buildObject({ ...objVariant, default: {} }, path, label, false, value === false ? undefined : value);
    const row = fieldRow(path, `${label} off`, off, { description: schema.description }, false);
    return { el: h('div', {}, row, inner.el), read: () => (off.checked ? false : inner.read()) };
  }
  if (schema.enum) {
    const select = h(
      'select',
      {},
      required || schema.default !== undefined ? null : h('option', { value: '' }, '(none)'),
      schema.enum.map((v) => h('option', { value: v, selected: v === value }, v)),
    );
    return {
      el: fieldRow(path, label, select, schema, required),
      read: () => (select.value === '' ? undefined : select.value),
    };
  }
  switch (schema.type) {
    case 'object':
      if (schema.additionalProperties && !schema.properties) return buildRecord(schema, path, label, required, value);
      return buildObject(schema, path, label, required, value);
    case 'array':
      if (schema.items?.type === 'object') return buildObjectList(schema, path, label, value);
      return buildStringList(schema, path, label, required, value);
    case 'boolean': {
      const box = h('input', { type: 'checkbox', checked: value === true });
      return { el: fieldRow(path, label, box, schema, false), read: () => box.checked };
    }
    case 'integer':
    case 'number': {
      const input = h('input', { type: 'number', step: schema.type === 'integer' ? '1' : 'any', value: value ?? '' });
      return {
        el: fieldRow(path, label, input, schema, required),
        read: () => (input.value.trim() === '' ? undefined : Number(input.value)),
      };
    }
    default: {
      const input = h('input', { type: 'text', value: value ?? '', size: 48 });
      if (schema.pattern) input.pattern = schema.pattern;
      return {
        el: fieldRow(path, label, input, schema, required),
        read: () => (input.value === '' ? undefined : input.value),
      };
    }
  }
}

/**
 * @param {JsonSchema} schema
 * @param {string} path
 * @param {string} label
 * @param {boolean} required
 * @param {any} value
 * @returns {Field}
 */
function buildObject(schema, path, label, required, value) {
  /** @type {[string, Field][]} */
  const children = Object.entries(schema.properties ?? {}).map(([key, sub]) => [
    key,
    buildField(sub, joinPath(path, key), key, (schema.required ?? []).includes(key), value?.[key]),
  ]);
  const body = children.map(([, c]) => c.el);
  let el;
  // An optional section without a default of its own (e.g. handoff.baselines) is off until ticked:
  // its fields' defaults alone must not switch it on.
  const include =
    !required && path !== '' && schema.default === undefined
      ? h('input', { type: 'checkbox', 'data-include': path })
      : null;
  if (path === '') el = h('div', {}, body);
  else if (required) el = h('fieldset', { 'data-path': path }, h('legend', {}, label), body);
  // Optional sections (all defaults) fold away.
  else
    el = h(
      'details',
      { 'data-path': path },
      h('summary', {}, include ? [include, ` ${label} (optional, off unless ticked)`] : `${label} (optional)`),
      h('fieldset', {}, body),
    );
  return {
    el,
    read() {
      if (include && !include.checked) return undefined;
      const out = {};
      for (const [key, c] of children) {
        const v = c.read();
        if (v !== undefined) out[key] = v;
      }
      return out;
    },
  };
}

/**
 * `oneOf` of objects told apart by a `kind` constant: a select picks the variant, its fields follow.
 * @param {JsonSchema} schema
 * @param {string} path
 * @param {string} label
 * @param {any} value
 * @returns {Field}
 */
function buildUnion(schema, path, label, value) {
  const variants = schema.oneOf.map((v) => v.properties?.kind?.const);
  const holder = h('div');
  const select = h(
    'select',
    {},
    variants.map((k) => h('option', { value: k, selected: k === value?.kind }, k)),
  );
  let current;
  const render = () => {
    const variant = schema.oneOf[variants.indexOf(select.value)];
    const rest = { ...variant, properties: { ...variant.properties } };
    delete rest.properties.kind;
    rest.required = (variant.required ?? []).filter((k) => k !== 'kind');
    current = buildObject(rest, path, label, true, value?.kind === select.value ? value : undefined);
    holder.replaceChildren(...(Object.keys(rest.properties).length ? [current.el] : []));
  };
  select.addEventListener('change', render);
  render();
  const row = fieldRow(joinPath(path, 'kind'), `${label}.kind`, select, {}, true);
  return { el: h('div', {}, row, holder), read: () => ({ kind: select.value, ...current.read() }) };
}

/**
 * @param {JsonSchema} schema
 * @param {string} path
 * @param {string} label
 * @param {boolean} required
 * @param {string[] | undefined} value
 * @returns {Field}
 */
function buildStringList(schema, path, label, required, value) {
  const area = h('textarea', { rows: 3, placeholder: 'one per line' });
  area.value = (value ?? []).join('\n');
  const el = fieldRow(path, `${label} (one per line)`, area, schema, required);
  return {
    el,
    read: () => {
      const lines = area.value
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      // Lists of numbers (e.g. baseline seeds) are sent as numbers; a non-number is left for the server to name.
      const numeric = schema.items?.type === 'integer' || schema.items?.type === 'number';
      const values = numeric ? lines.map((l) => (Number.isFinite(Number(l)) ? Number(l) : l)) : lines;
      return values.length || required ? values : undefined;
    },
  };
}

/**
 * A record of numbers (e.g. source quotas) as `name=value` lines.
 * @param {JsonSchema} schema
 * @param {string} path
 * @param {string} label
 * @param {boolean} required
 * @param {Record<string, number> | undefined} value
 * @returns {Field}
 */
function buildRecord(schema, path, label, required, value) {
  const area = h('textarea', { rows: 2, placeholder: 'name=value, one per line' });
  area.value = Object.entries(value ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  return {
    el: fieldRow(path, `${label} (name=value lines)`, area, schema, required),
    read: () => {
      const entries = area.value
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l) => {
          const at = l.lastIndexOf('=');
          const raw = at < 0 ? '' : l.slice(at + 1).trim();
          return [at < 0 ? l : l.slice(0, at).trim(), raw === '' ? Number.NaN : Number(raw)];
        });
      return entries.length ? Object.fromEntries(entries) : undefined;
    },
  };
}

/**
 * @param {JsonSchema} schema
 * @param {string} path
 * @param {string} label
 * @param {any[] | undefined} value
 * @returns {Field}
 */
function buildObjectList(schema, path, label, value) {
  const items = [];
  const list = h('div');
  const renumber = () => {
    // Paths follow positions, so rebuild on add/remove keeping the typed values.
    const values = items.map((i) => i.read());
    items.length = 0;
    list.replaceChildren();
    values.forEach((v) => add(v));
  };
  const add = (v) => {
    const index = items.length;
    const item = buildObject(schema.items, joinPath(path, index), `${label}[${index}]`, true, v);
    const remove = h(
      'button',
      {
        type: 'button',
        onclick: () => {
          items.splice(items.indexOf(item), 1);
          renumber();
        },
      },
      'remove',
    );
    item.el.append(remove);
    items.push(item);
    list.append(item.el);
  };
  for (const v of value ?? []) add(v);
  for (let i = items.length; i < (schema.minItems ?? 0); i++) add(undefined);
  const el = h(
    'fieldset',
    { 'data-path': path },
    h('legend', {}, label),
    list,
    h('button', { type: 'button', 'data-add': path, onclick: () => add(undefined) }, `add ${label} entry`),
  );
  return { el, read: () => items.map((i) => i.read()) };
}

function showIssues(form, issues) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.error')) el.textContent = '';
  const unplaced = [];
  for (const issue of issues) {
    const control = form.querySelector(`[data-path="${CSS.escape(issue.path)}"]`);
    const slot = form.querySelector(`[data-error-for="${CSS.escape(issue.path)}"]`);
    if (control) control.setAttribute('aria-invalid', 'true');
    if (slot) slot.textContent = issue.message;
    else unplaced.push(`${issue.path}: ${issue.message}`);
  }
  return unplaced;
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function duration(sec) {
  if (sec < 90) return `${sec.toPrecision(2)} s`;
  if (sec < 5400) return `${(sec / 60).toFixed(0)} min`;
  if (sec < 172800) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / 86400).toFixed(1)} days`;
}

/** The compute plan (POST /v1/plan) as a table; estimates say so. */
function planView(p) {
  const row = (name, value, testid) => h('tr', { 'data-plan': testid }, h('th', {}, name), h('td', {}, value));
  const flops = p.flops.pool + p.flops.queries;
  const rows = [
    row(
      'pool rows',
      `${fmt(p.pool.rows)} to embed (${fmt(p.pool.read)} read, ${fmt(p.pool.duplicate)} duplicates, ${fmt(p.pool.rejected)} rejected)`,
      'rows',
    ),
    row(
      'tokens',
      `${fmt(p.tokens.pool)} pool${p.tokens.sampled ? ` (estimate from a sample of ${fmt(p.tokens.sampledRows)} rows)` : ''} + ${fmt(p.tokens.queries)} queries`,
      'tokens',
    ),
    row(
      'model',
      `${p.model.id}: hidden ${p.model.hiddenSize}, ${p.model.layers} layers, ${(p.model.matmulParams / 1e6).toFixed(1)}M matmul weights`,
      'model',
    ),
    row(
      'FLOPs',
      `${(flops / 1e12).toFixed(3)} TFLOP (attention ${(100 * p.flops.attentionShare).toFixed(1)}%)`,
      'flops',
    ),
    row(
      'this machine',
      p.time.thisMachineSeconds === null
        ? 'not calibrated'
        : `${duration(p.time.thisMachineSeconds)} (estimate, ${p.calibration.provider})`,
      'here',
    ),
    ...p.time.gpus.map((g) =>
      row(
        g.name,
        `${duration(g.seconds)} (estimate: ${(100 * g.utilisation).toFixed(0)}% of peak, ${g.utilisationSource})`,
        'gpu',
      ),
    ),
    row(
      'disk',
      `embeddings ${bytes(p.disk.embeddings)}, scores ${bytes(p.disk.scores)}, top-K ${bytes(p.disk.topk)}`,
      'disk',
    ),
    row(
      'memory',
      `embed ~${bytes(p.memory.embed)}, score ~${bytes(p.memory.score)}, select ~${bytes(p.memory.select)} (estimates)`,
      'memory',
    ),
  ];
  return h(
    'div',
    {},
    h('h3', {}, 'Compute plan'),
    h('table', {}, h('tbody', {}, rows)),
    h(
      'ul',
      { class: 'muted' },
      p.notes.map((n) => h('li', {}, n)),
    ),
  );
}

async function newRunView() {
  stopPolling();
  const schema = await fetch('/v1/schema/run-config').then((r) => r.json());
  const root = buildField(schema, '', 'run', true, undefined);
  const errors = h('div', { class: 'errors', role: 'alert' });
  const planPanel = h('section', { id: 'plan', class: 'plan', 'aria-live': 'polite' });
  const planButton = h('button', { type: 'button', id: 'plan-button' }, 'Estimate cost');
  const form = h(
    'form',
    { id: 'run-form', novalidate: true },
    root.el,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Start run'), planButton),
    errors,
    planPanel,
  );
  planButton.addEventListener('click', async () => {
    errors.textContent = '';
    planButton.disabled = true;
    planPanel.replaceChildren(
      h('p', { class: 'muted' }, 'Planning: reading the pool, tokenising, calibrating on the server…'),
    );
    try {
      const plan = await api('POST', '/v1/plan', { config: root.read() });
      showIssues(form, []);
      planPanel.replaceChildren(planView(plan));
    } catch (err) {
      const rest = err instanceof ApiError ? showIssues(form, err.issues) : [];
      planPanel.replaceChildren();
      errors.textContent = [err.message, ...rest].join('\n');
    } finally {
      planButton.disabled = false;
    }
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.textContent = '';
    try {
      const { runId } = await api('POST', '/v1/runs', root.read());
      location.hash = `#/runs/${encodeURIComponent(runId)}`;
    } catch (err) {
      const rest = err instanceof ApiError ? showIssues(form, err.issues) : [];
      errors.textContent = [err.message, ...rest].join('\n');
    }
  });
  main.replaceChildren(
    h('h2', {}, 'New run'),
    h(
      'p',
      { class: 'muted' },
      "Relative paths resolve against the server's first data root (inputs, queries, model) and its runs root (run directory).",
    ),
    form,
  );
}

// ---------- runs list ----------

function progressCell(progress) {
  if (!progress) return h('span', { class: 'muted' }, '–');
  const pct = progress.total > 0 ? Math.min(100, (100 * progress.done) / progress.total) : 0;
  const shards = progress.shards ? ` · shards ${progress.shards.done}/${progress.shards.total}` : '';
  return h(
    'span',
    {},
    h('progress', { max: 100, value: pct.toFixed(1) }),
    ` ${pct.toFixed(0)}% ${progress.stage}${shards}`,
  );
}

async function runsView() {
  const body = h('tbody');
  main.replaceChildren(
    h('h2', {}, 'Runs'),
    h(
      'table',
      { id: 'runs' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['run', 'state', 'stage', 'progress', 'strategy', 'budget', 'updated'].map((c) => h('th', {}, c)),
        ),
      ),
      body,
    ),
  );
  poll(async () => {
    const { runs } = await api('GET', '/v1/runs');
    runs.sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)));
    body.replaceChildren(
      ...runs.map((r) =>
        h(
          'tr',
          { 'data-run-id': r.runId },
          h('td', {}, h('a', { href: `#/runs/${encodeURIComponent(r.runId)}` }, r.runId)),
          h('td', {}, stateBadge(r.state)),
          h('td', {}, r.stage ?? '–'),
          h(
            'td',
            {},
            h(
              'span',
              { 'data-progress': r.progress ? `${r.progress.done}/${r.progress.total}` : '' },
              progressCell(r.progress),
            ),
          ),
          h('td', {}, r.strategy ?? '–'),
          h('td', {}, fmt(r.budget)),
          h('td', {}, r.updatedAt ? new Date(r.updatedAt).toLocaleTimeString() : '–'),
        ),
      ),
    );
    if (runs.length === 0)
      body.replaceChildren(
        h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No runs yet. Start one under "New run".')),
      );
  });
}

// ---------- charts (inline SVG) ----------

function barChart(title, counts) {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  const rowH = 22;
  const labelW = 130;
  const barMax = 260;
  const max = Math.max(1, ...entries.map(([, v]) => v));
  const svg = s('svg', {
    width: labelW + barMax + 70,
    height: entries.length * rowH + 6,
    role: 'img',
    'aria-label': title,
  });
  entries.forEach(([name, v], i) => {
    const y = i * rowH + 3;
    const w = Math.max(1, (v / max) * barMax);
    svg.append(
      s('text', { x: labelW - 6, y: y + 14, 'text-anchor': 'end', 'font-size': 12 }, name),
      s('rect', { x: labelW, y, width: w, height: rowH - 6, fill: '#457b9d' }, s('title', {}, `${name}: ${v}`)),
      s('text', { x: labelW + w + 4, y: y + 14, 'font-size': 12 }, fmt(v)),
    );
  });
  return h('div', { class: 'chart', 'data-chart': title }, h('h3', {}, title), svg);
}

function histogramChart(task, counts, min, max) {
  const width = 320;
  const height = 120;
  const pad = 22;
  const peak = Math.max(1, ...counts);
  const barW = (width - 2 * pad) / counts.length;
  const svg = s('svg', { width, height: height + 18, role: 'img', 'aria-label': `score histogram ${task}` });
  counts.forEach((c, i) => {
    const bh = (c / peak) * (height - pad);
    const lo = min + ((max - min) * i) / counts.length;
    svg.append(
      s(
        'rect',
        { x: pad + i * barW, y: height - bh, width: Math.max(1, barW - 1), height: bh, fill: '#e76f51' },
        s('title', {}, `≥ ${fmt(lo)}: ${c}`),
      ),
    );
  });
  svg.append(
    s('line', { x1: pad, y1: height, x2: width - pad, y2: height, stroke: '#333' }),
    s('text', { x: pad, y: height + 14, 'font-size': 11 }, fmt(min)),
    s('text', { x: width - pad, y: height + 14, 'font-size': 11, 'text-anchor': 'end' }, fmt(max)),
  );
  return h('div', { class: 'chart', 'data-chart': `scores ${task}` }, h('h3', {}, `scores: ${task}`), svg);
}

// ---------- run page ----------

function messagesView(messages) {
  if (!messages) return h('p', { class: 'muted' }, 'not available');
  return messages.map((m) =>
    h('div', { class: 'message' }, h('div', { class: 'role' }, m.role), h('pre', {}, m.content)),
  );
}

function whyView(example) {
  return h(
    'div',
    { class: 'why', id: 'why' },
    h(
      'section',
      {},
      h('h3', {}, `Selected example #${example.rank}`),
      h(
        'p',
        { class: 'muted' },
        `${example.id} · ${example.source} · task ${example.task ?? '–'} · score ${fmt(example.score)}`,
      ),
      messagesView(example.messages),
    ),
    h(
      'section',
      {},
      example.query
        ? [
            h('h3', {}, `Best-matching query: ${example.query.task} #${example.query.index}`),
            messagesView(example.query.messages),
          ]
        : [
            h('h3', {}, 'Best-matching query'),
            h(
              'p',
              { class: 'muted' },
              `This strategy records the task (${example.task ?? 'none'}) and its score, not a single query.`,
            ),
          ],
    ),
  );
}

async function selectionSection(runId, holder) {
  let offset = 0;
  const charts = h('div', { class: 'charts' });
  const table = h('tbody');
  const why = h('div');
  const pager = h('div', { class: 'actions' });
  holder.replaceChildren(
    h('h2', {}, 'Selection'),
    charts,
    h('h3', {}, 'Examples'),
    h(
      'table',
      { id: 'examples' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['rank', 'task', 'score', 'source', 'first user turn'].map((c) => h('th', {}, c)),
        ),
      ),
      table,
    ),
    pager,
    why,
  );
  const load = async () => {
    const page = await api(
      'GET',
      `/v1/runs/${encodeURIComponent(runId)}/selection?offset=${offset}&limit=${PAGE_SIZE}`,
    );
    const hist = page.histogram;
    charts.replaceChildren(
      barChart('per task', page.summary.perTask),
      barChart('per source', page.summary.perSource),
      ...Object.entries(hist.counts).map(([task, counts]) =>
        histogramChart(task, counts, hist.min ?? 0, hist.max ?? 0),
      ),
    );
    table.replaceChildren(
      ...page.examples.map((e) => {
        const first = e.messages?.find((m) => m.role === 'user')?.content ?? '';
        const row = h(
          'tr',
          {
            class: 'clickable',
            'data-rank': e.rank,
            onclick: () => {
              for (const r of table.querySelectorAll('tr.selected')) r.classList.remove('selected');
              row.classList.add('selected');
              why.replaceChildren(whyView(e));
            },
          },
          h('td', {}, e.rank),
          h('td', {}, e.task ?? '–'),
          h('td', {}, fmt(e.score)),
          h('td', {}, e.source),
          h('td', {}, first.length > 120 ? `${first.slice(0, 120)}…` : first),
        );
        return row;
      }),
    );
    pager.replaceChildren(
      h(
        'button',
        {
          type: 'button',
          disabled: offset === 0,
          onclick: () => {
            offset = Math.max(0, offset - PAGE_SIZE);
            void load();
          },
        },
        '‹ previous',
      ),
      h(
        'span',
        { class: 'muted' },
        `${page.total ? offset + 1 : 0}–${Math.min(page.total, offset + PAGE_SIZE)} of ${page.total}`,
      ),
      h(
        'button',
        {
          type: 'button',
          disabled: offset + PAGE_SIZE >= page.total,
          onclick: () => {
            offset += PAGE_SIZE;
            void load();
          },
        },
        'next ›',
      ),
    );
    if (page.examples[0] && !why.firstChild) why.replaceChildren(whyView(page.examples[0]));
  };
  await load();
}

function matchText(m) {
  return m.kind === 'similarity' ? `score ${fmt(m.score, 4)}` : `shares “${m.ngram}”`;
}

/** The contamination report: flagged pool rows, each with the example it copies (first page). */
async function contaminationSection(runId, holder) {
  const page = await api('GET', `/v1/runs/${encodeURIComponent(runId)}/contamination?limit=${PAGE_SIZE}`);
  const tests = [
    page.settings.minSimilarity !== null ? `score ≥ ${page.settings.minSimilarity}` : null,
    page.settings.ngram ? `${page.settings.ngram} shared words` : null,
  ]
    .filter(Boolean)
    .join(' or ');
  const detail = h('div');
  const rows = page.rows.map((r) => {
    const first = r.messages?.find((m) => m.role === 'user')?.content ?? '';
    const row = h(
      'tr',
      {
        class: 'clickable',
        'data-contaminated': r.id,
        onclick: () => {
          detail.replaceChildren(
            h(
              'div',
              { class: 'why' },
              h(
                'section',
                {},
                h('h3', {}, `Pool row ${r.id}`),
                h('p', { class: 'muted' }, r.source),
                messagesView(r.messages),
              ),
              ...r.matches.map((m) =>
                h(
                  'section',
                  {},
                  h('h3', {}, `${m.task} example ${m.queryId}`),
                  h('p', { class: 'muted' }, `${m.kind}: ${matchText(m)}`),
                  messagesView(m.example),
                ),
              ),
            ),
          );
        },
      },
      h('td', {}, r.id),
      h('td', {}, r.source),
      h(
        'td',
        {},
        r.matches
          .map((m) => `${m.task} ${m.queryId} (${m.kind === 'similarity' ? fmt(m.score, 4) : 'n-gram'})`)
          .join('; '),
      ),
      h('td', {}, first.length > 120 ? `${first.slice(0, 120)}…` : first),
    );
    return row;
  });
  holder.replaceChildren(
    h('h2', {}, 'Contamination'),
    h(
      'p',
      { id: 'contamination-summary' },
      `${page.flagged} of ${page.poolRows} pool rows are near-copies of query or evaluation examples (${tests || 'no test enabled'}); ${page.excluded ? 'excluded from the selection' : 'not excluded (selection.excludeContaminated)'}.`,
    ),
    page.rows.length
      ? h(
          'table',
          { id: 'contamination' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['id', 'source', 'matches', 'first user turn'].map((c) => h('th', {}, c)),
            ),
          ),
          h('tbody', {}, ...rows),
        )
      : h('p', { class: 'muted' }, 'nothing flagged'),
    page.total > page.rows.length
      ? h('p', { class: 'muted' }, `first ${page.rows.length} of ${page.total}; all in selection/contamination.json`)
      : h('span'),
    detail,
  );
}

async function runView(runId) {
  const head = h('div');
  const selection = h('div');
  const contamination = h('div');
  main.replaceChildren(h('h2', {}, `Run ${runId}`), head, selection, contamination);
  let selectionShown = false;
  const act = (action) =>
    h(
      'button',
      {
        type: 'button',
        'data-action': action,
        onclick: async () => {
          try {
            await api('POST', `/v1/runs/${encodeURIComponent(runId)}/${action}`);
          } catch (err) {
            alert(err.message);
          }
        },
      },
      action,
    );
  poll(async (stop) => {
    const d = await api('GET', `/v1/runs/${encodeURIComponent(runId)}`);
    const live = ['running', 'paused', 'queued'].includes(d.state);
    const counts = Object.entries(d.status?.counts ?? {});
    // Native replaceChildren would print null as text: optional parts are filtered out first.
    head.replaceChildren(
      ...[
        h('p', {}, stateBadge(d.state), ` stage ${d.stage ?? '–'} · ${d.backend} · ${d.runDir}`),
        h('p', {}, progressCell(d.progress)),
        live
          ? h('div', { class: 'actions' }, d.state === 'paused' ? act('resume') : act('pause'), act('cancel'))
          : null,
        d.status?.error ? h('p', { class: 'errors' }, `${d.status.error.type}: ${d.status.error.message}`) : null,
        h('p', { class: 'muted' }, `completed stages: ${(d.status?.completedStages ?? []).join(', ') || '–'}`),
        counts.length ? h('p', {}, counts.map(([k, v]) => `${k} ${fmt(v)}`).join(' · ')) : null,
        d.artifacts.length
          ? h(
              'p',
              { class: 'muted' },
              `artifacts: ${d.artifacts.map((a) => `${a.file} (${fmt(a.bytes)} B)`).join(', ')}`,
            )
          : null,
      ].filter(Boolean),
    );
    if (live) return;
    // A finished run changes no more: show its selection (if it got that far) and stop polling.
    stop();
    if (!selectionShown && d.artifacts.some((a) => a.name === 'selection-summary')) {
      selectionShown = true;
      await selectionSection(runId, selection);
      if (d.artifacts.some((a) => a.name === 'contamination')) await contaminationSection(runId, contamination);
    }
  });
}

// ---------- routing and token ----------

async function route() {
  const hash = location.hash || '#/';
  if (!token()) {
    stopPolling();
    main.replaceChildren(h('p', {}, 'Enter an API token above to continue.'));
    return;
  }
  try {
    if (hash === '#/new') await newRunView();
    else if (hash.startsWith('#/runs/')) await runView(decodeURIComponent(hash.slice('#/runs/'.length)));
    else await runsView();
  } catch (err) {
    main.replaceChildren(h('p', { class: 'errors' }, err.message));
  }
}

document.getElementById('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = /** @type {HTMLInputElement} */ (document.getElementById('token'));
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = '';
  showTokenState('token set for this tab');
  void route();
});
if (token()) showTokenState('token set for this tab');
window.addEventListener('hashchange', () => void route());
void route();
