// Charts as SVG built with the DOM (no library, nothing fetched): a
// horizontal bar per value, and a single stacked bar for progress.
import {h, s, tone} from './dom.js';

// [{label, value, tone?}] -> a labelled horizontal bar per item, scaled
// to the largest. Labels and numbers are text (same size at any width);
// each bar is drawn in SVG.
export function bars(items, {title = ''} = {}) {
  const max = Math.max(1, ...items.map((i) => i.value));
  return h('div', {class: 'bars', role: 'img', 'aria-label': `${title}: ${items.map((i) => `${i.label} ${i.value}`).join(', ')}`},
    items.map((item) => [
      h('span', {class: 'bar-label'}, item.label),
      s('svg', {class: 'bar', viewBox: '0 0 1000 10', preserveAspectRatio: 'none', 'aria-hidden': 'true'},
        s('rect', {x: 0, y: 0, width: Math.max(item.value ? 4 : 0, (1000 * item.value) / max), height: 10,
          class: `fill-${item.tone ?? tone(item.label)}`})),
      h('span', {class: 'bar-value'}, String(item.value)),
    ]));
}

// [{label, value, tone}] over `total` -> one bar split in segments, with a legend.
export function stacked(segments, total, {title = ''} = {}) {
  const width = 1000;
  let x = 0;
  const parts = [];
  for (const seg of segments) {
    if (!seg.value || !total) continue;
    const w = (width * seg.value) / total;
    parts.push(s('rect', {x, y: 0, width: w, height: 10, class: `fill-${seg.tone}`},
      s('title', {}, `${seg.label}: ${seg.value}`)));
    x += w;
  }
  const label = `${title}: ${segments.map((seg) => `${seg.label} ${seg.value}`).join(', ')} of ${total}`;
  return h('div', {},
    s('svg', {class: 'bar', viewBox: `0 0 ${width} 10`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label},
      s('rect', {x: 0, y: 0, width, height: 10, class: 'fill-track'}), parts),
    h('div', {class: 'legend'}, segments.map((seg) => h('span', {class: `tone-${seg.tone}`}, `${seg.label} ${seg.value}`))));
}
