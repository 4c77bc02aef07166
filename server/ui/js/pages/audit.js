// The audit log, newest first, filtered by actor, action or object, with
// the hash chain's verification (the whole log, checked by the server).
import {get, query} from '../api.js';
import {h, badge, panel, table, notice} from '../dom.js';

const PAGE = 200;
// The window read so far; "Load older" widens it. Verification is run
// when the page opens and on request, not on every refresh: it reads the
// whole log.
let state = {oldest: null, verified: null, verifying: false};

async function verify(ctx) {
  state.verifying = true;
  try {
    state.verified = await get('/audit/verify');
  } catch (e) {
    state.verified = {valid: false, error: e.message};
  } finally {
    state.verifying = false;
  }
  ctx.redraw();
}

// Long details (the device lists of an offer) are cut; the whole text is
// in the title and in the export.
const DETAILS_SHOWN = 240;
function details(value) {
  const text = JSON.stringify(value ?? {});
  if (text.length <= DETAILS_SHOWN) return h('span', {class: 'mono'}, text);
  return h('span', {class: 'mono', title: text}, `${text.slice(0, DETAILS_SHOWN)}…`);
}

export async function render(ctx) {
  const head = await get('/audit/head');
  if (state.oldest === null || state.oldest > head.seq) state.oldest = Math.max(0, head.seq - PAGE);
  if (state.verified === null && !state.verifying) verify(ctx);
  const entries = [];
  for (let after = state.oldest; after < head.seq; after += 1000) {
    const page = await get('/audit' + query({after, limit: Math.min(1000, head.seq - after)}));
    entries.push(...page.entries);
    if (page.entries.length === 0) break;
  }
  entries.reverse();
  const text = (ctx.query.get('q') ?? '').toLowerCase();
  const shown = text ? entries.filter((e) => [e.actor, e.action, e.object, e.outcome].some((v) => String(v ?? '').toLowerCase().includes(text))) : entries;
  const v = state.verified;
  return h('div', {},
    h('h1', {}, 'Audit log', h('span', {class: 'muted'}, `${head.seq} entries`)),
    v === null ? notice('', 'Verifying the hash chain…') :
      v.valid ? notice('ok', badge('valid', 'chain valid'), ` ${v.entries} entries verified; head #${v.head.seq} `, h('span', {class: 'mono'}, v.head.hash.slice(0, 16) + '…')) :
      notice('bad', badge('invalid', 'chain broken'), ` ${v.error}`),
    h('form', {class: 'filters', role: 'search', on: {submit: (e) => {
      e.preventDefault();
      ctx.setQuery({q: e.target.elements.q.value.trim()});
    }}},
      h('label', {}, 'Actor, action or object contains', h('input', {id: 'audit-filter', name: 'q', value: ctx.query.get('q') ?? ''})),
      h('button', {type: 'submit'}, 'Filter'),
      h('button', {type: 'button', class: 'quiet', id: 'audit-verify', on: {click: () => { state.verified = null; ctx.redraw(); }}}, 'Verify again')),
    table([
      {title: '#', cell: (e) => String(e.seq), num: true},
      {title: 'Time', cell: (e) => h('span', {class: 'mono nowrap', title: e.time}, e.time.replace('T', ' ').replace('Z', ''))},
      {title: 'Actor', cell: (e) => e.actor},
      {title: 'Action', cell: (e) => e.action},
      {title: 'Object', cell: (e) => h('span', {class: 'mono'}, e.object)},
      {title: 'Result', cell: (e) => badge(e.outcome)},
      {title: 'Details', cell: (e) => details(e.details), wide: true},
    ], shown, text ? 'No entry in this window matches.' : 'The log is empty.'),
    h('div', {class: 'actions'},
      h('span', {class: 'muted'}, `Entries #${state.oldest + 1}–#${head.seq}`),
      state.oldest > 0 && h('button', {type: 'button', class: 'quiet', id: 'audit-older', on: {click: () => {
        state.oldest = Math.max(0, state.oldest - PAGE);
        ctx.redraw();
      }}}, 'Load older')));
}
