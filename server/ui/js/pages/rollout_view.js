// What a rollout's status document says, in words and bars: shared by the
// overview, the rollout list and the rollout page.
import {h} from '../dom.js';

export function waveTotals(status) {
  const totals = {eligible: 0, pending: 0, in_progress: 0, succeeded: 0, failed: 0};
  for (const wave of status?.waves ?? []) for (const key of Object.keys(totals)) totals[key] += wave[key] ?? 0;
  return totals;
}

export function progressSegments(counts) {
  return [
    {label: 'succeeded', value: counts.succeeded, tone: 'ok'},
    {label: 'failed', value: counts.failed, tone: 'bad'},
    {label: 'in progress', value: counts.in_progress, tone: 'run'},
    {label: 'not offered yet', value: counts.pending, tone: 'idle'},
  ];
}

const percent = (rate) => (rate === undefined || rate === null ? '—' : `${(rate * 100).toFixed(rate < 0.1 && rate > 0 ? 1 : 0)} %`);
export {percent};

// The status names the wave it waits on by index.
export function waitingWaveName(rollout) {
  const st = rollout.status ?? {};
  if (st.waiting_wave === undefined || st.waiting_wave === null) return null;
  return typeof st.waiting_wave === 'number' ? st.waves?.[st.waiting_wave]?.name ?? null : String(st.waiting_wave);
}

// "what it waits for" as a sentence.
export function waitingText(rollout) {
  const st = rollout.status ?? {};
  const name = waitingWaveName(rollout);
  const wave = name ? `wave “${name}”` : 'the current wave';
  switch (rollout.state) {
    case 'paused': return `Paused${rollout.reason ? `: ${rollout.reason}` : ''}. Resume to go on.`;
    case 'completed': return 'Finished: every wave is complete.';
    case 'aborted': return `Aborted${rollout.reason ? `: ${rollout.reason}` : ''}.`;
    default: break;
  }
  const held = (st.held_by ?? []).length ? ` Held by ${st.held_by.join(', ')}.` : '';
  switch (st.waiting_for) {
    case 'approval': return `Waiting for an operator to approve ${wave}.${held}`;
    case 'soak': return `Soaking ${wave} until ${st.wake_at ? new Date(st.wake_at).toLocaleString() : 'its soak time ends'}.${held}`;
    case 'success_threshold': return `Waiting until enough devices of ${wave} succeed.${held}`;
    case 'devices': return `Waiting for devices of ${wave} to finish.${held}`;
    case 'finished': return 'Every wave is done.';
    case 'nothing': return `Nothing to wait for.${held}`;
    default: return rollout.state === 'scheduled' ? `Scheduled; waiting for its start.${held}` : `Evaluating…${held}`;
  }
}

export function waitingNode(rollout) {
  return h('p', {class: 'waiting', id: 'waiting-for'}, waitingText(rollout));
}
