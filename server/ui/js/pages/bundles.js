// Bundles: what is published, each one's signed manifest, who signed it
// (key ids checked against the trust root at upload) and where it went.
import {get} from '../api.js';
import {h, badge, panel, table, when, facts, shortId} from '../dom.js';

export function render(ctx) {
  return ctx.params.length ? renderOne(ctx.params[0]) : renderList();
}

const size = (bytes) => (bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`);

async function renderList() {
  const {bundles} = await get('/bundles');
  return h('div', {},
    h('h1', {}, 'Bundles'),
    table([
      {title: 'Name', cell: (b) => h('a', {href: `#/bundles/${b.file_sha256}`}, b.name)},
      {title: 'Version', cell: (b) => b.version},
      {title: 'Kind', cell: (b) => b.kind},
      {title: 'Component', cell: (b) => b.component, wide: true},
      {title: 'Security version', cell: (b) => String(b.security_version), num: true, wide: true},
      {title: 'Size', cell: (b) => size(b.size), num: true},
      {title: 'Signed by', cell: (b) => b.signer_keyids.map((k) => h('div', {class: 'mono', title: k}, shortId(k))), wide: true},
      {title: 'Uploaded', cell: (b) => when(b.uploaded_at)},
    ], [...bundles].reverse(), ['No bundle yet: upload one with ', h('code', {}, 'flotilla bundles upload FILE.flb'), '.']));
}

const DEPLOYMENTS_READ = 20;

async function renderOne(id) {
  const [bundle, {deployments}, {rollouts}] = await Promise.all([
    get(`/bundles/${encodeURIComponent(id)}`), get('/deployments'), get('/rollouts')]);
  const mine = deployments.filter((d) => d.bundle === bundle.file_sha256).reverse();
  const details = await Promise.all(mine.slice(0, DEPLOYMENTS_READ).map((d) => get(`/deployments/${d.id}`)));
  const byDeployment = new Map(rollouts.map((r) => [r.deployment_id, r]));
  const m = bundle.manifest ?? {};
  return h('div', {},
    h('p', {}, h('a', {href: '#/bundles'}, '← Bundles')),
    h('h1', {}, `${bundle.name} ${bundle.version}`, h('span', {class: 'muted'}, bundle.kind)),
    h('div', {class: 'grid'},
      panel('Bundle', facts([
        ['File SHA-256', h('span', {class: 'mono'}, bundle.file_sha256)],
        ['Bundle id', h('span', {class: 'mono'}, bundle.bundle_id)],
        ['Component', bundle.component],
        ['Security version', String(bundle.security_version)],
        ['Compatible', (m.compatible ?? []).join(', ')],
        ['Requires', Object.entries(m.requires ?? {}).map(([k, v]) => h('div', {}, `${k} ${v}`))],
        ['Size', size(bundle.size)],
        ['Uploaded', h('span', {}, `${bundle.uploaded_by}, `, when(bundle.uploaded_at))],
      ])),
      panel('Signatures',
        h('p', {class: 'muted'}, 'Release keys of the trust root whose signatures verified when the bundle was uploaded; every device verifies them again.'),
        table([{title: 'Key id', cell: (k) => h('span', {class: 'mono'}, k)}], bundle.signer_keyids.map((k) => k)))),
    panel('Where it is deployed', table([
      {title: 'Deployment', cell: (d) => String(d.id), num: true},
      {title: 'Rollout', cell: (d) => {
        const r = byDeployment.get(d.id);
        return r ? h('a', {href: `#/rollouts/${r.id}`}, r.name) : '—';
      }},
      {title: 'Devices', cell: (d) => String(d.devices.length), num: true},
      {title: 'States', cell: (d) => Object.entries(d.counts).map(([state, n]) => [badge(state, `${state.replaceAll('_', ' ')} ${n}`), ' '])},
      {title: 'Created', cell: (d) => when(d.created_at)},
    ], details, 'Not deployed yet.')),
    panel('Manifest', h('pre', {}, JSON.stringify(m, null, 2))));
}
