// Devices: a filtered, paged list, and one device with its versions,
// booted slot, labels, tamper checks and every deployment event.
import {get, post, query} from '../api.js';
import {h, badge, panel, table, deviceLink, when, labelChips, facts, notice} from '../dom.js';

const PAGE = 50;
const STATUSES = ['', 'accepted', 'pending', 'rejected', 'decommissioned'];

export function render(ctx) {
  return ctx.params.length ? renderOne(ctx, ctx.params[0]) : renderList(ctx);
}

function filters(ctx, types) {
  const q = ctx.query;
  const field = (label, control) => h('label', {}, label, control);
  const select = (id, values, current) => h('select', {id, name: id},
    values.map((v) => h('option', {value: v, selected: v === current}, v || 'any')));
  const form = h('form', {class: 'filters', role: 'search', on: {submit: (event) => {
    event.preventDefault();
    const data = new FormData(form);
    ctx.setQuery({type: data.get('type'), status: data.get('status'), label: data.get('label').trim(),
      tampered: data.get('tampered')});
  }}},
    field('Type', select('type', ['', ...types], q.get('type') ?? '')),
    field('Status', select('status', STATUSES, q.get('status') ?? '')),
    field('Label', h('input', {id: 'label', name: 'label', placeholder: 'region=eu', value: q.get('label') ?? ''})),
    field('Tampered', select('tampered', ['', 'true', 'false'], q.get('tampered') ?? '')),
    h('button', {type: 'submit', id: 'apply-filters'}, 'Filter'));
  return form;
}

async function renderList(ctx) {
  const q = ctx.query;
  const offset = Math.max(0, Number.parseInt(q.get('offset') ?? '0', 10) || 0);
  const params = {type: q.get('type'), status: q.get('status'), label: q.get('label'), tampered: q.get('tampered'),
    parent: q.get('parent'), limit: PAGE + 1, offset};
  const [{devices}, summary] = await Promise.all([get('/devices' + query(params)), get('/devices/summary')]);
  const more = devices.length > PAGE;
  const page = devices.slice(0, PAGE);
  const pager = (delta, label) => h('button', {type: 'button', class: 'quiet', on: {click: () =>
    ctx.setQuery({...Object.fromEntries(q), offset: Math.max(0, offset + delta)})}}, label);
  const error = takeError();
  return h('div', {},
    h('h1', {}, 'Devices', h('span', {class: 'muted'}, `${summary.total} enrolled`)),
    error && notice('bad', error),
    filters(ctx, Object.keys(summary.by_type)),
    table([
      {title: 'Device', cell: (d) => deviceLink(d.id)},
      {title: 'Type', cell: (d) => d.device_type},
      {title: 'Protocol', cell: protocolCell},
      {title: 'Status', cell: (d) => [badge(d.status), d.tampered ? [' ', badge('tampered')] : null]},
      {title: 'Labels', cell: (d) => labelChips(d.labels), wide: true},
      {title: 'Last seen', cell: (d) => when(d.last_seen)},
      ctx.can('manage_devices') && {title: '', cell: (d) => d.status === 'pending' ? acceptButtons(ctx, d) : null},
    ].filter(Boolean), page, 'No device matches.'),
    h('div', {class: 'actions'},
      offset > 0 && pager(-PAGE, '← Previous'),
      h('span', {class: 'muted'}, page.length ? `${offset + 1}–${offset + page.length}` : ''),
      more && pager(PAGE, 'Next →')));
}

// How the device reaches the server; a child names its gateway
// (docs/gateway.md).
function protocolCell(d) {
  if (d.protocol === 'ddi') return 'hawkBit DDI';
  if (d.protocol === 'child') return ['via ', deviceLink(d.parent), d.orphaned ? [' ', badge('orphaned')] : null];
  return d.gateway ? 'Flotilla (gateway)' : 'Flotilla';
}

function protocolFact(device) {
  if (device.protocol === 'ddi') return 'hawkBit DDI, target token: reports are its word, unsigned';
  if (device.protocol === 'child') {
    return ['Child of gateway ', deviceLink(device.parent), ': reports are signed by the gateway\'s key',
      device.orphaned ? [' ', badge('orphaned')] : null];
  }
  return device.gateway
    ? ['Flotilla gateway, device key: reports are signed; ', h('a', {href: `#/devices?parent=${encodeURIComponent(device.id)}`}, 'its children')]
    : 'Flotilla, device key: reports are signed';
}

function acceptButtons(ctx, device) {
  const change = async (verb) => {
    if (!(await ctx.confirm(`${verb === 'accept' ? 'Accept' : 'Reject'} this device?`,
      `${device.device_type} ${device.id}`, verb === 'accept' ? 'Accept' : 'Reject', verb !== 'accept'))) return;
    await post(`/devices/${encodeURIComponent(device.id)}/${verb}`).catch((e) => alertLater(e));
    ctx.redraw();
  };
  return h('div', {class: 'actions'},
    h('button', {type: 'button', on: {click: () => change('accept')}}, 'Accept'),
    h('button', {type: 'button', class: 'quiet', on: {click: () => change('reject')}}, 'Reject'));
}

// An action's failure, shown by the next draw of whichever page follows.
let lastError = null;
function alertLater(error) { lastError = error.message; }
function takeError() {
  const error = lastError;
  lastError = null;
  return error;
}

const EVENT_HISTORY = 10;  // deployments whose events are read

async function renderOne(ctx, id) {
  const device = await get(`/devices/${encodeURIComponent(id)}`);
  const inventory = device.inventory ?? {};
  const recent = device.deployments.slice(0, EVENT_HISTORY);
  const events = await Promise.all(recent.map((d) =>
    get(`/deployments/${d.deployment_id}/devices/${encodeURIComponent(id)}/events`).then((r) => r.events).catch(() => [])));
  const error = takeError();
  const components = Object.entries(inventory.components ?? {}).map(([name, c]) => ({name, ...c}));
  const checks = Object.entries(inventory.tamper ?? {}).map(([name, c]) => ({name, ...c}));
  const compliance = device.compliance;
  return h('div', {},
    h('p', {}, h('a', {href: '#/devices'}, '← Devices')),
    h('h1', {}, h('span', {class: 'mono'}, device.id.slice(0, 16)), badge(device.status), device.tampered && badge('tampered')),
    error && notice('bad', error),
    h('div', {class: 'grid'},
      panel('Device', facts([
        ['Id', h('span', {class: 'mono'}, device.id)],
        ['Type', device.device_type],
        // What vouches for what the device says (docs/ddi.md).
        ['Protocol', protocolFact(device)],
        device.protocol === 'child' && ['Child id', h('span', {class: 'mono'}, device.child_id)],
        device.protocol === 'ddi' && ['Attributes', Object.entries(device.attributes ?? {}).map(([k, v]) => h('div', {}, `${k}: ${v}`))],
        ['Identity', Object.entries(device.identity ?? {}).map(([k, v]) => h('div', {}, `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`))],
        ['Labels', labelChips(device.labels)],
        ['Enrolled', when(device.created_at)],
        ['Last seen', when(device.last_seen)],
        ['Booted slot', inventory.booted_slot ?? '—'],
        ['Agent', inventory.agent_version ?? '—'],
        ['Inventory', device.inventory_at ? h('span', {}, `#${device.report_counter}, `, when(device.inventory_at)) : 'none yet'],
      ])),
      panel('Installed', table([
        {title: 'Component', cell: (c) => c.name},
        {title: 'Version', cell: (c) => c.version ?? '—'},
        {title: 'Security version', cell: (c) => String(c.security_version ?? '—'), num: true},
        {title: 'Compliance', cell: (c) => {
          const row = compliance?.components?.find((r) => r.component === c.name);
          return row ? [badge(row.status), ' ', h('span', {class: 'muted'}, row.reason ?? '')] : '—';
        }},
      ], components, 'The device has not reported its versions yet.'),
        checks.length > 0 && h('h2', {}, 'Tamper checks'),
        checks.length > 0 && table([
          {title: 'Check', cell: (c) => c.name},
          {title: 'Result', cell: (c) => badge(c.ok ? 'ok' : 'failed', c.ok ? 'intact' : 'failed')},
          {title: 'Detail', cell: (c) => c.detail ?? ''},
        ], checks))),
    panel('Deployment history', recent.length === 0 ? h('p', {class: 'muted'}, 'No deployment has included this device.') :
      recent.map((d, i) => h('div', {class: 'wave'},
        h('header', {}, h('strong', {}, `Deployment ${d.deployment_id}`), h('span', {}, badge(d.state), ' ', when(d.updated_at))),
        table([
          {title: '#', cell: (e) => String(e.seq), num: true},
          {title: 'State', cell: (e) => badge(e.state)},
          {title: 'Progress', cell: (e) => (e.progress ? `${e.progress} %` : '—'), num: true},
          {title: 'Message', cell: (e) => e.message || '—'},
          {title: 'Device time', cell: (e) => h('span', {class: 'mono'}, e.time)},
        ], events[i], 'No event reported.')))),
  );
}
