// Tiny DOM and formatting helpers: no framework, no innerHTML with data
// (every value goes in as a text node, so names from the daemon cannot
// inject markup).

// h('tr', {class: 'x', onclick: fn, dataset: {vm: 'a'}}, child, 'text', [more])
export function h(tag, attrs = null, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'value') el.value = v;
      else if (k === 'style') for (const [p, sv] of Object.entries(v)) el.style.setProperty(p, sv);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

export function bytes(n) {
  if (!Number.isFinite(n) || n <= 0) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)} ${u[i]}`;
}

export function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h ${m % 60}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

export function ago(ms) {
  if (!ms) return '—';
  return `${duration(Date.now() - ms)} ago`;
}

export function clock(ms) {
  if (!ms) return '—';
  return new Date(ms).toLocaleString();
}

// A time that moves on its own: "3m ago" or a running duration ("up 5m"),
// kept current by tick() without redrawing the row around it.
//   kind: 'ago' (since ms), 'for' (ms until now)
export function ticking(kind, ms) {
  if (!ms) return '—';
  const el = h('span', { 'data-tick': kind, 'data-ms': ms });
  el.textContent = tickText(kind, ms);
  return el;
}

function tickText(kind, ms) {
  const d = Date.now() - ms;
  if (kind === 'ago') return `${duration(d)} ago`;
  return duration(d);
}

export function tick(root) {
  for (const el of root.querySelectorAll('[data-tick]')) {
    el.textContent = tickText(el.dataset.tick, Number(el.dataset.ms));
  }
}

// A progress bar; fraction 0..1.
export function progress(fraction, label = '', state = 'running') {
  const pct = Math.max(0, Math.min(1, Number(fraction) || 0)) * 100;
  return h('div', { class: `bar bar-${String(state).replace(/[^a-z]/g, '')}`, role: 'progressbar', 'aria-valuenow': Math.round(pct),
                    'aria-valuemin': 0, 'aria-valuemax': 100, title: label },
    h('div', { class: 'fill', style: { width: `${pct.toFixed(1)}%` } }),
    h('span', { class: 'bar-label' }, label || `${Math.round(pct)}%`));
}

export function badge(state) {
  return h('span', { class: `badge s-${String(state || 'unknown').replace(/[^a-z_-]/gi, '')}` },
    state || 'unknown');
}
