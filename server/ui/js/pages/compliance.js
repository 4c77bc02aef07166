// Compliance: the summary by status and device type against a baseline,
// the devices that need attention (overdue first), and the reports an
// auditor takes away (CSV, signed JSON, HTML).
import {get, query, download} from '../api.js';
import {h, badge, panel, table, deviceLink, when, notice} from '../dom.js';
import {bars} from '../charts.js';

// Worst first: what an operator acts on.
const ATTENTION = ['overdue', 'tampered', 'failed', 'stale', 'unknown', 'outdated', 'pending'];
const SHOWN = 200;
const FORMATS = [
  {format: 'csv', label: 'CSV', extension: 'csv'},
  {format: 'signed', label: 'Signed JSON', extension: 'signed.json'},
  {format: 'html', label: 'HTML report', extension: 'html'},
];

let downloadMessage = null;
// The device rows are a report the server writes each time: read at most
// every ROWS_EVERY_MS per baseline, while the counts refresh with the page.
const ROWS_EVERY_MS = 30000;
let rowsCache = {key: null, at: 0, rows: []};

async function attentionRows(baseline, needing) {
  const key = JSON.stringify([baseline, needing]);
  if (rowsCache.key === key && Date.now() - rowsCache.at < ROWS_EVERY_MS) return rowsCache.rows;
  const rows = [];
  for (const status of needing) {
    if (rows.length >= SHOWN) break;
    const report = await get('/compliance' + query({baseline, status, format: 'json'}));
    rows.push(...report.rows.slice(0, SHOWN - rows.length));
  }
  rowsCache = {key, at: Date.now(), rows};
  return rows;
}

// The baseline a page shows when none is chosen: the most recently
// updated one (what the operators last agreed on), else none (each
// device against the latest release for its type).
export async function defaultBaseline() {
  const {baselines} = await get('/baselines');
  const newest = [...baselines].sort((a, b) => (b.updated_at ?? '').localeCompare(a.updated_at ?? ''))[0];
  return newest ? newest.name : '';
}

const LATEST = '(latest)';  // the select's value for "no baseline"

export async function render(ctx) {
  const chosen = ctx.query.get('baseline');
  const baseline = chosen === null ? await defaultBaseline() : chosen === LATEST ? '' : chosen;
  const [{baselines}, summary] = await Promise.all([
    get('/baselines'), get('/compliance/summary' + query({baseline}))]);
  const counts = summary.summary.by_status;
  const needing = ATTENTION.filter((s) => (counts[s] ?? 0) > 0);
  const rows = await attentionRows(baseline, needing);
  const total = needing.reduce((n, s) => n + counts[s], 0);
  const types = Object.entries(summary.summary.by_device_type);
  const statuses = Object.keys(counts);
  const message = h('div', {id: 'download-message'}, downloadMessage);

  const fetchReport = async (f) => {
    const name = `compliance${baseline ? '-' + baseline : ''}.${f.extension}`;
    try {
      const bytes = await download('/compliance' + query({baseline, format: f.format}), name);
      downloadMessage = notice('ok', `${name} downloaded (${bytes} bytes).`);
    } catch (e) {
      downloadMessage = notice('bad', `Could not download ${name}: ${e.message}`);
    }
    message.replaceChildren(downloadMessage);
  };

  return h('div', {},
    h('h1', {}, 'Compliance'),
    h('form', {class: 'filters', on: {submit: (e) => e.preventDefault()}},
      h('label', {}, 'Baseline',
        h('select', {id: 'baseline', on: {change: (e) => ctx.setQuery({baseline: e.target.value})}},
          h('option', {value: LATEST, selected: !baseline}, 'latest release per type'),
          baselines.map((b) => h('option', {value: b.name, selected: b.name === baseline}, b.name)))),
      h('div', {class: 'actions'}, FORMATS.map((f) =>
        h('button', {type: 'button', id: `download-${f.format}`, on: {click: () => fetchReport(f)}}, `Download ${f.label}`)))),
    message,
    h('p', {class: 'muted'}, `Generated ${new Date(summary.generated_at ?? Date.now()).toLocaleString()}; `,
      `${summary.summary.devices} devices. Every status comes from the devices' own signed inventory reports; `,
      'the signed report verifies offline with ', h('code', {}, 'flotilla compliance verify'), '.'),
    h('div', {class: 'grid'},
      panel('By status', bars(statuses.map((label) => ({label, value: counts[label]})), {title: 'Devices by compliance status'})),
      panel('By device type', table([
        {title: 'Type', cell: ([type]) => type},
        ...['compliant', 'outdated', 'overdue', 'failed'].map((s) => ({title: s, num: true, cell: ([, c]) => String(c[s] ?? 0)})),
        {title: 'other', num: true, cell: ([, c]) => String(Object.entries(c)
          .filter(([s]) => !['compliant', 'outdated', 'overdue', 'failed'].includes(s)).reduce((n, [, v]) => n + v, 0))},
      ], types, 'No device yet.'))),
    panel(`Needing attention (${total})`, table([
      {title: 'Device', cell: (r) => deviceLink(r.device_id)},
      {title: 'Type', cell: (r) => r.device_type, wide: true},
      {title: 'Component', cell: (r) => r.component ?? '—'},
      {title: 'Status', cell: (r) => badge(r.status)},
      {title: 'Why', cell: (r) => r.reason ?? ''},
      {title: 'Deadline', cell: (r) => r.deadline ?? '—', wide: true},
      {title: 'Last seen', cell: (r) => when(r.last_seen)},
    ], rows, 'Every device is compliant.'),
    total > rows.length && h('p', {class: 'muted'}, `The first ${rows.length} of ${total}; the reports list every device.`)));
}
