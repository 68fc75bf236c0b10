// warren's web UI: the page's entry point. Routes client-side between the
// dashboard (/) and a VM's page (/vm/<name>), keeps the Store live through
// events.subscribe, and shows every daemon error as the CLI would.
import { Daemon, wsUrl } from './rpc.js';
import * as api from './gen/rpc.js';
import { Store } from './store.js';
import { h, replace } from './dom.js';
import { Dashboard } from './dashboard.js';
import { VmPage } from './vmpage.js';

performance.mark('warren:boot');  // the module graph has loaded (bench/web_bench reads the marks)
const daemon = new Daemon(wsUrl(window.location));
const store = new Store();
const main = document.getElementById('main');
const statusEl = document.getElementById('conn');
const errorsEl = document.getElementById('errors');

// Errors stay on screen until dismissed: "warren: <message> (<code>)".
function showError(err, context = '') {
  const text = (context ? `${context}: ` : '') + (err && err.toString ? err.toString() : String(err));
  console.error(text);
  const item = h('div', { class: 'error', role: 'alert' },
    h('span', { class: 'error-text' }, text),
    h('button', { class: 'ghost', title: 'Dismiss', onclick: () => item.remove() }, '×'));
  errorsEl.append(item);
  while (errorsEl.children.length > 5) errorsEl.firstChild.remove();
}

function setStatus(state, text) {
  statusEl.dataset.state = state;
  replace(statusEl, h('span', { class: 'dot' }), text);
}

async function relist() {
  const [vms, images, ops, sessions] = await Promise.all([
    api.vmList(daemon), api.imageList(daemon), api.opList(daemon), api.sessionLs(daemon),
  ]);
  store.load({ vms: vms.vms, images: images.images, ops: ops.ops, sessions: sessions.sessions });
}
store.onResync = () => relist().catch((err) => showError(err, 'reloading after missed events'));

// When the first full data set is on screen (bench/web_bench reads the mark):
// the frame that draws it runs after this, and a task queued from that frame
// runs once it is painted.
function markPainted() {
  requestAnimationFrame(() => setTimeout(() => {
    if (!performance.getEntriesByName('warren:data').length) performance.mark('warren:data');
  }, 0));
}

// The lists this page was served with (the daemon puts them in index.html):
// the first paint needs no round trip. The subscription's own lists replace
// them a moment later, and it alone is what "live" means.
function loadServedLists() {
  const el = document.getElementById('warren-data');
  if (!el) return false;
  el.remove();
  try {
    store.load(JSON.parse(el.textContent));
    return true;
  } catch (err) {
    showError(err, 'reading the lists the page came with');
    return false;
  }
}

// Subscribe with the lists in the same round trip (`snapshot`); on any drop,
// try again with a growing pause.
let retryMs = 500;
async function live() {
  setStatus('connecting', 'connecting…');
  store.beginLoad();
  let sub;
  try {
    let loaded;
    const snapshot = new Promise((resolve) => { loaded = resolve; });
    // The first subscription adopts the socket web/connect.js opened early.
    const socket = globalThis.warrenEarlySocket || null;
    globalThis.warrenEarlySocket = null;
    sub = await api.eventsSubscribe(daemon.long({
      socket,
      onNotify: (method, params) => {
        if (method !== 'event') return;
        store.event(params);
        if (params && params.kind === 'meta' && params.action === 'subscribed') loaded();
      },
    }), { snapshot: true });
    performance.mark('warren:subscribed');
    // The stream ending before its first event is a failure like any other.
    await Promise.race([snapshot, sub.result.then(() => {
      throw new Error('the event stream ended before it started');
    })]);
    setStatus('live', 'live');
    retryMs = 500;
    markPainted();
    daemon.connection().catch(() => {});  // the short-call connection, ready for a first click
  } catch (err) {
    setStatus('down', 'disconnected');
    showError(err, 'live updates');
    if (sub) sub.cancel();
    setTimeout(live, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
    return;
  }
  sub.result.then(
    () => { setStatus('down', 'disconnected'); setTimeout(live, retryMs); },
    (err) => { setStatus('down', 'disconnected'); showError(err, 'live updates'); setTimeout(live, retryMs); },
  );
}

// ---- routing ----
let view = null;

function route() {
  if (view) view.destroy();
  const path = window.location.pathname;
  const m = path.match(/^\/vm\/([^/]+)\/?$/);
  const ctx = { daemon, store, showError, navigate };
  view = m ? new VmPage(ctx, decodeURIComponent(m[1])) : new Dashboard(ctx);
  replace(main, view.el);
  document.title = m ? `${decodeURIComponent(m[1])} · warren` : 'warren';
  window.scrollTo(0, 0);
}

function navigate(path) {
  if (path !== window.location.pathname) history.pushState(null, '', path);
  route();
}

// In-page links (<a data-nav href="/vm/x">) route without a reload.
document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[data-nav]');
  if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', route);
window.addEventListener('unhandledrejection', (ev) => showError(ev.reason));

const served = loadServedLists();
route();
if (served) {
  performance.mark('warren:drawn');  // the DOM holds the served lists (layout and paint follow)
  markPainted();
}
live();
