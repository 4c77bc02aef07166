// Charts as SVG built with the DOM (no library, nothing fetched): a
// horizontal bar per value, and a single stacked bar for progress.
import {h, s, tone} from './dom.js';

// [{label, value, tone?}] -> labelled horizontal bars, scaled to the largest.
export function bars(items, {title = ''} = {}) {
  const rowHeight = 24, labelWidth = 130, width = 480;
  const max = Math.max(1, ...items.map((i) => i.value));
  const height = Math.max(rowHeight, items.length * rowHeight);
  return s('svg', {class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title},
    s('title', {}, title),
    items.map((item, i) => {
      const y = i * rowHeight;
      const w = Math.round(((width - labelWidth - 60) * item.value) / max);
      return s('g', {},
        s('text', {x: 0, y: y + 16}, item.label.length > 18 ? `${item.label.slice(0, 17)}…` : item.label),
        s('rect', {x: labelWidth, y: y + 4, width: Math.max(item.value ? 2 : 0, w), height: rowHeight - 8, rx: 2,
          class: `fill-${item.tone ?? tone(item.label)}`}),
        s('text', {x: labelWidth + w + 6, y: y + 16}, String(item.value)));
    }));
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
