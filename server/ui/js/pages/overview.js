// Fleet overview: devices by status, type and freshness, compliance, the
// rollouts in flight, and tampered devices called out.
import {get, query} from '../api.js';
import {h, badge, card, panel, table, deviceLink, when, labelChips, tone} from '../dom.js';
import {bars, stacked} from '../charts.js';
import {waveTotals, progressSegments, waitingText} from './rollout_view.js';
import {defaultBaseline} from './compliance.js';

const ACTIVE = ['scheduled', 'running', 'paused'];
const SEEN = [['5m', 'last 5 min'], ['1h', 'last hour'], ['24h', 'last day'], ['older', 'longer ago'], ['never', 'never']];

export async function render(ctx) {
  const baseline = await defaultBaseline();
  const [fleet, compliance, rollouts, tampered] = await Promise.all([
    get('/devices/summary'),
    get('/compliance/summary' + query({baseline})).catch(() => null),  // still show the fleet
    get('/rollouts'),
    get('/devices' + query({tampered: 'true', limit: 20})),
  ]);
  const byStatus = fleet.by_status;
  const active = rollouts.rollouts.filter((r) => ACTIVE.includes(r.state));
  const compliant = compliance ? compliance.summary.by_status.compliant ?? 0 : null;

  return h('div', {},
    h('h1', {}, 'Fleet overview'),
    h('div', {class: 'cards'},
      card('devices', fleet.total, {href: '#/devices'}),
      card('accepted', byStatus.accepted ?? 0, {href: '#/devices?status=accepted'}),
      card('waiting for acceptance', byStatus.pending ?? 0, {href: '#/devices?status=pending', alert: (byStatus.pending ?? 0) > 0}),
      card('tampered', fleet.tampered, {href: '#/devices?tampered=true', alert: fleet.tampered > 0}),
      card('rollouts in flight', active.length, {href: '#/rollouts'}),
      compliance && card('compliant', `${compliant} / ${compliance.summary.devices}`, {href: '#/compliance'})),
    h('div', {class: 'grid'},
      panel('Devices by status',
        bars(Object.entries(byStatus).map(([label, value]) => ({label, value})), {title: 'Devices by status'})),
      panel('Last heard from (accepted devices)',
        bars(SEEN.map(([k, label]) => ({label, value: fleet.last_seen[k] ?? 0, tone: tone(k)})),
          {title: 'Accepted devices by last contact'})),
      compliance && panel(baseline ? `Compliance with ${baseline}` : 'Compliance with the latest releases',
        bars(Object.entries(compliance.summary.by_status).map(([label, value]) => ({label, value})),
          {title: 'Devices by compliance status'}),
        h('p', {}, h('a', {href: '#/compliance'}, 'Reports and the devices needing attention'))),
      panel('Devices by type', typeTable(fleet.by_type, compliance))),
    panel('Rollouts in flight', table([
      {title: 'Rollout', cell: (r) => h('a', {href: `#/rollouts/${r.id}`}, r.name)},
      {title: 'State', cell: (r) => badge(r.state)},
      {title: 'Progress', cell: (r) => {
        const totals = waveTotals(r.status);
        return stacked(progressSegments(totals), totals.eligible, {title: `Rollout ${r.name}`});
      }},
      {title: 'Where it stands', cell: (r) => waitingText(r), wide: true},
    ], active, 'No rollout is scheduled, running or paused.')),
    fleet.tampered > 0 && panel('Tampered devices', table([
      {title: 'Device', cell: (d) => deviceLink(d.id)},
      {title: 'Type', cell: (d) => d.device_type},
      {title: 'Labels', cell: (d) => labelChips(d.labels), wide: true},
      {title: 'Last seen', cell: (d) => when(d.last_seen)},
    ], tampered.devices)),
  );
}

function typeTable(byType, compliance) {
  const rows = Object.entries(byType).map(([type, counts]) => ({type, ...counts}));
  return table([
    {title: 'Type', cell: (r) => h('a', {href: `#/devices?type=${encodeURIComponent(r.type)}`}, r.type)},
    {title: 'Devices', cell: (r) => String(r.total), num: true},
    {title: 'Accepted', cell: (r) => String(r.by_status.accepted ?? 0), num: true},
    {title: 'Compliant', num: true, cell: (r) => {
      const statuses = compliance?.summary.by_device_type[r.type];
      return statuses ? String(statuses.compliant ?? 0) : '—';
    }},
  ], rows, 'No device has enrolled yet.');
}
