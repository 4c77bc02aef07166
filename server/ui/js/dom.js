// Building the page from data. Every string becomes a text node or an
// attribute value set through the DOM: nothing is ever parsed as HTML, so
// a device label such as "<script>" stays text. Event handlers are
// attached as functions (the CSP forbids inline code anyway).

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function apply(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'on') {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (name.startsWith('on') || name === 'style' || name === 'innerHTML') {
      throw new Error(`refusing attribute ${name}`);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
}

// h('a', {href: '#/x'}, 'text', child, [more]) -> element
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

export function fragment(...children) {
  const f = document.createDocumentFragment();
  append(f, children);
  return f;
}

// Statuses and states to a colour family (CSS classes tone-*/fill-*).
const TONES = {
  ok: ['accepted', 'compliant', 'completed', 'committed', 'succeeded', 'valid', 'ok', '5m'],
  run: ['running', 'in_progress', 'downloading', 'installing', 'rebooting', 'verifying', 'assigned', 'offered'],
  warn: ['pending', 'paused', 'outdated', 'stale', 'scheduled', 'orphaned', '1h', '24h'],
  bad: ['failed', 'rolled_back', 'timed_out', 'overdue', 'tampered', 'rejected', 'aborted', 'invalid', 'older'],
  idle: ['decommissioned', 'unknown', 'skipped', 'never', 'cancelled'],
};
export function tone(value) {
  for (const [name, values] of Object.entries(TONES)) if (values.includes(value)) return name;
  return 'info';
}

export function badge(value, label) {
  return h('span', {class: `badge tone-${tone(value)}`}, label ?? String(value ?? '—').replaceAll('_', ' '));
}

export function when(text) {
  if (!text) return h('span', {class: 'muted'}, 'never');
  const date = new Date(text);
  return h('time', {datetime: text, title: text}, isNaN(date) ? text : `${ago(date)} ago`);
}

export function ago(date) {
  const seconds = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

export function shortId(id) {
  return id && id.length > 16 ? `${id.slice(0, 12)}…` : id;
}

export function deviceLink(id) {
  return h('a', {href: `#/devices/${encodeURIComponent(id)}`, class: 'mono', title: id}, shortId(id));
}

export function labelChips(labels) {
  const entries = Object.entries(labels || {});
  if (!entries.length) return h('span', {class: 'muted'}, '—');
  return entries.map(([k, v]) => h('span', {class: 'label-chip'}, `${k}=${v}`));
}

// A table from column definitions: {title, cell(row) -> node|string, num, wide}.
export function table(columns, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p', {class: 'muted'}, empty);  // text or nodes
  const cls = (c) => [c.num ? 'num' : '', c.wide ? 'wide' : ''].join(' ').trim() || null;
  return h('div', {class: 'table-wrap'},
    h('table', {},
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', {scope: 'col', class: cls(c)}, c.title)))),
      h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((c) => h('td', {class: cls(c)}, c.cell(row))))))));
}

export function facts(pairs) {
  return h('dl', {class: 'facts'}, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}

export function card(label, value, {alert = false, href = null} = {}) {
  const body = [h('div', {class: 'value'}, String(value)), h('div', {class: 'label'}, label)];
  return h('div', {class: alert ? 'card alert' : 'card'}, href ? h('a', {href}, body) : body);
}

export function panel(title, ...children) {
  return h('section', {class: 'panel'}, h('h2', {}, title), children);
}

export function notice(kind, ...children) {
  return h('div', {class: `notice ${kind}`, role: kind === 'bad' ? 'alert' : null}, children);
}
