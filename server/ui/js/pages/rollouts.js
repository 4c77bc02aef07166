// Rollouts: the list, and one rollout with its waves, what it waits for,
// its devices, and the buttons that steer it.
import {get, post} from '../api.js';
import {h, badge, panel, table, deviceLink, when, facts, notice, shortId} from '../dom.js';
import {stacked} from '../charts.js';
import {waveTotals, progressSegments, percent, waitingNode, waitingWaveName} from './rollout_view.js';

export function render(ctx) {
  return ctx.params.length ? renderOne(ctx, ctx.params[0]) : renderList();
}

async function renderList() {
  const {rollouts} = await get('/rollouts');
  return h('div', {},
    h('h1', {}, 'Rollouts'),
    table([
      {title: 'Id', cell: (r) => String(r.id), num: true},
      {title: 'Name', cell: (r) => h('a', {href: `#/rollouts/${r.id}`}, r.name)},
      {title: 'State', cell: (r) => badge(r.state)},
      {title: 'Progress', cell: (r) => {
        const totals = waveTotals(r.status);
        return stacked(progressSegments(totals), totals.eligible, {title: r.name});
      }},
      {title: 'Failure rate', cell: (r) => percent(r.status?.failure_rate), num: true, wide: true},
      {title: 'Updated', cell: (r) => when(r.updated_at), wide: true},
    ], [...rollouts].reverse(), ['No rollout yet: create one with ', h('code', {}, 'flotilla rollouts create POLICY.json'), '.']));
}

// The buttons this state allows and this role may press.
function actions(ctx, rollout, setMessage) {
  if (!ctx.can('manage_deployments')) return null;
  const st = rollout.status ?? {};
  const act = async (verb, title, text, danger = false, body = undefined) => {
    if (!(await ctx.confirm(title, text, verb[0].toUpperCase() + verb.slice(1), danger))) return;
    try {
      await post(`/rollouts/${rollout.id}/${verb}`, body);
      setMessage(notice('ok', `Rollout ${verb === 'abort' ? 'aborted' : verb + 'd'}.`));
    } catch (e) {
      setMessage(notice('bad', `Could not ${verb}: ${e.message}`));
    }
    ctx.redraw();
  };
  const buttons = [];
  if (rollout.state === 'scheduled' || rollout.state === 'running') {
    buttons.push(h('button', {type: 'button', id: 'rollout-pause', on: {click: () =>
      act('pause', `Pause “${rollout.name}”?`, 'No device is offered the update until it is resumed. Devices already installing finish.')}}, 'Pause'));
  }
  if (rollout.state === 'paused') {
    buttons.push(h('button', {type: 'button', id: 'rollout-resume', on: {click: () =>
      act('resume', `Resume “${rollout.name}”?`, 'Offers start again where the rollout stopped.')}}, 'Resume'));
  }
  if (st.waiting_for === 'approval' && rollout.state === 'running') {
    const wave = waitingWaveName(rollout) ?? 'the wave';
    buttons.push(h('button', {type: 'button', id: 'rollout-approve', on: {click: () =>
      act('approve', `Approve “${wave}”?`, 'The next wave opens once it is approved: its devices will be offered the update.')}},
    `Approve ${wave}`));
  }
  if (['scheduled', 'running', 'paused'].includes(rollout.state)) {
    buttons.push(h('button', {type: 'button', class: 'danger', id: 'rollout-abort', on: {click: () =>
      act('abort', `Abort “${rollout.name}”?`, 'No further device is offered the update. This cannot be undone.', true)}}, 'Abort'));
    if (rollout.rollback_bundle) {
      buttons.push(h('button', {type: 'button', class: 'danger', id: 'rollout-abort-rollback', on: {click: () =>
        act('abort', `Abort “${rollout.name}” and roll back?`,
          'No further device is offered the update, and the devices that took it are offered the rollback bundle. This cannot be undone.',
          true, {rollback: true})}}, 'Abort and roll back'));
    }
  }
  return buttons.length ? h('div', {class: 'actions'}, buttons) : null;
}

// Kept across redraws: the result of the last button press.
let lastMessage = {id: null, node: null};

async function renderOne(ctx, id) {
  const rollout = await get(`/rollouts/${encodeURIComponent(id)}`);
  const deployment = rollout.deployment_id ? await get(`/deployments/${rollout.deployment_id}`) : null;
  if (lastMessage.id !== rollout.id) lastMessage = {id: rollout.id, node: null};
  const message = h('div', {id: 'rollout-message'}, lastMessage.node);
  const setMessage = (node) => {
    lastMessage.node = node;
    message.replaceChildren(node);
  };
  const st = rollout.status ?? {};
  const totals = waveTotals(st);
  return h('div', {},
    h('p', {}, h('a', {href: '#/rollouts'}, '← Rollouts')),
    h('h1', {}, rollout.name, badge(rollout.state), h('span', {class: 'muted'}, `#${rollout.id}`)),
    message,
    h('div', {class: 'grid'},
      panel('Where it stands',
        waitingNode(rollout),
        stacked(progressSegments(totals), totals.eligible, {title: 'All waves'}),
        facts([
          ['Success rate', percent(st.success_rate)],
          ['Failure rate', percent(st.failure_rate)],
          ['Interruptions', `${st.interruptions ?? 0} on ${st.interrupted_devices ?? 0} devices (not failures)`],
          ['Guard', st.guard_tripped ? badge('failed', 'tripped') : 'not tripped'],
          ['Skipped / blocked', `${st.skipped ?? 0} / ${st.blocked ?? 0}`],
          ['Evaluated', when(st.evaluated_at)],
        ]),
        actions(ctx, rollout, setMessage)),
      panel('Policy',
        facts([
          ['Bundle', h('a', {href: `#/bundles/${encodeURIComponent(rollout.bundle)}`, class: 'mono'}, shortId(rollout.bundle))],
          ['Deployment', rollout.deployment_id ? String(rollout.deployment_id) : '—'],
          ['Created', h('span', {}, `${rollout.created_by}, `, when(rollout.created_at))],
          ['Updated', when(rollout.updated_at)],
        ]),
        h('details', {}, h('summary', {}, 'Policy document'), h('pre', {}, JSON.stringify(rollout.policy, null, 2))))),
    panel('Waves', (st.waves ?? []).map((wave) => h('div', {class: 'wave', 'data-wave': wave.name},
      h('header', {},
        h('strong', {}, wave.name),
        h('span', {}, wave.complete ? badge('completed', 'complete') : wave.open ? badge('running', 'open') : badge('pending', 'not open'),
          wave.manual_approval ? [' ', wave.approved ? badge('ok', 'approved') : badge('pending', 'needs approval')] : null)),
      stacked(progressSegments(wave), wave.eligible, {title: `Wave ${wave.name}`})))),
    deployment && panel(`Devices (${deployment.devices.length})`, deviceTable(deployment)),
  );
}

const SHOWN_DEVICES = 500;
const IN_FLIGHT = ['downloading', 'installing', 'rebooting', 'verifying'];

function deviceTable(deployment) {
  const order = ['failed', 'rolled_back', 'timed_out', 'downloading', 'installing', 'rebooting', 'verifying', 'pending', 'committed'];
  const rank = (s) => (order.indexOf(s) < 0 ? order.length : order.indexOf(s));
  const rows = [...deployment.devices].sort((a, b) => rank(a.state) - rank(b.state) || (b.updated_at ?? '').localeCompare(a.updated_at ?? ''));
  return [
    table([
      {title: 'Device', cell: (d) => deviceLink(d.device_id)},
      {title: 'State', cell: (d) => badge(d.state)},
      {title: 'Progress', cell: (d) => (IN_FLIGHT.includes(d.state) ? `${d.progress ?? 0} %` : '—'), num: true, wide: true},
      {title: 'Running', cell: (d) => d.running_version ?? '—'},
      {title: 'Message', cell: (d) => d.message || '—', wide: true},
      {title: 'Updated', cell: (d) => when(d.updated_at)},
    ], rows.slice(0, SHOWN_DEVICES), 'No device has been offered this rollout yet.'),
    rows.length > SHOWN_DEVICES && h('p', {class: 'muted'}, `The first ${SHOWN_DEVICES} of ${rows.length}, problems first.`),
  ];
}
