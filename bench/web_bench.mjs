// Web UI benchmarks in Debian's headless chromium (playwright-core), against
// a running daemon whose URL `warren web --json` printed:
//   - dashboard load: first contentful paint and "full data" (the
//     warren:data mark the page sets once events.subscribe and the four lists
//     are on screen), from the browser's performance API, median of --loads;
//   - daemon RSS with --dashboards open dashboards vs none (--pid);
//   - with --vm: keystroke → echo in the browser terminal, measured in the
//     page (keydown → the echo's WebSocket frame, and → the echo painted).
// Prints one JSON object. Not a test: nothing here asserts a timing.
//
//   node bench/web_bench.mjs --url URL --driver DIR [--pid N] [--vm NAME]
//                            [--browser firefox]  (dashboard and RSS only)
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    driver: { type: 'string', default: process.env.WARREN_WEB_E2E_CACHE || '' },
    pid: { type: 'string', default: '' },
    vm: { type: 'string', default: '' },
    loads: { type: 'string', default: '9' },
    dashboards: { type: 'string', default: '20' },
    keys: { type: 'string', default: '60' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    browser: { type: 'string', default: 'chromium' },
    firefox: { type: 'string', default: '/usr/bin/firefox-esr' },
    // Diagnostic: Chromium holds a page's tasks (a WebSocket message too)
    // until its next frame after a key press (DeferRendererTasksAfterInput, on
    // by default); with it off, the echo's time is the network path alone.
    'no-input-deferral': { type: 'boolean', default: false },
  },
});
const require = createRequire(join(args.driver, 'node_modules', 'x.js'));
const { chromium } = require('playwright-core');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const rssKiB = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);

const profile = mkdtempSync(join(tmpdir(), 'warren-web-bench-'));
const hardStop = setTimeout(() => { console.error('web_bench: deadline'); process.exit(2); }, 600_000);
hardStop.unref();
const context = args.browser === 'firefox'
  ? await (await import('../tests/web/firefox.mjs')).launchFirefox(args.driver, {
    executablePath: args.firefox, width: 1400, height: 900, timeout: 60_000 })
  : await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium, headless: true, viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           ...(args['no-input-deferral'] ? ['--disable-features=DeferRendererTasksAfterInput'] : [])],
  });
context.setDefaultTimeout(60_000);
const out = { browser: args.browser, input_deferral: !args['no-input-deferral'] };
try {
  // Log in once (the token becomes the cookie).
  const first = context.pages()[0] || await context.newPage();
  await first.goto(args.url);
  await first.locator('#conn[data-state="live"]').waitFor();
  const origin = new URL(first.url()).origin;
  await first.close();

  // Dashboard loads.
  const loads = [];
  for (let i = 0; i < Number(args.loads); i++) {
    const p = await context.newPage();
    await p.goto(`${origin}/`);
    await p.waitForFunction(() => performance.getEntriesByName('warren:data').length > 0);
    loads.push(await p.evaluate(() => ({
      marks: Object.fromEntries([
        ['html', performance.getEntriesByType('navigation')[0].responseEnd],
        ...performance.getEntriesByType('mark').filter((m) => m.name.startsWith('warren:'))
          .map((m) => [m.name.slice(7), m.startTime])]),
      fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
      // Nothing is on screen before the first contentful paint: when the page
      // draws its data before its first frame, that frame is the data's.
      data: Math.max(performance.getEntriesByName('warren:data')[0].startTime,
        (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || 0),
      vms: document.querySelectorAll('#vms tr[data-vm]').length,
      ops: document.querySelectorAll('#ops tr[data-op]').length,
    })));
    await p.close();
  }
  out.dashboard = {
    loads: loads.length, vms: loads[0].vms, ops_rows: loads[0].ops,
    first_paint_ms_median: median(loads.map((l) => l.fcp)),
    full_data_ms_median: median(loads.map((l) => l.data)),
    full_data_ms_max: Math.max(...loads.map((l) => l.data)),
    // Where the time goes: the median of each step's time since navigation.
    steps_ms_median: Object.fromEntries(Object.keys(loads[0].marks).map((k) =>
      [k, +median(loads.map((l) => l.marks[k])).toFixed(1)])),
  };

  // Daemon RSS: none open vs N open dashboards.
  if (args.pid) {
    await sleep(1500);
    const idle = rssKiB(args.pid);
    const pages = [];
    for (let i = 0; i < Number(args.dashboards); i++) {
      const p = await context.newPage();
      await p.goto(`${origin}/`);
      await p.locator('#conn[data-state="live"]').waitFor();
      pages.push(p);
    }
    await sleep(3000);
    const open = rssKiB(args.pid);
    out.rss = { idle_kib: idle, open_kib: open, dashboards: pages.length, ratio: +(open / idle).toFixed(3) };
    for (const p of pages) await p.close();
  }

  // Keystroke → echo in the browser terminal.
  if (args.vm && args.browser !== 'firefox') {
    const p = await context.newPage();
    await p.addInitScript(() => {
      // Time each binary frame's arrival (the echo) without touching the app.
      const Orig = window.WebSocket;
      window.__wsIn = [];
      window.WebSocket = class extends Orig {
        constructor(...a) {
          super(...a);
          this.addEventListener('message', (ev) => {
            if (typeof ev.data !== 'string') window.__wsIn.push(performance.now());
          });
        }
      };
    });
    await p.goto(`${origin}/vm/${encodeURIComponent(args.vm)}`);
    await p.locator('#open-terminal').click();
    const rows = p.locator('#terminal .xterm-rows');
    await rows.waitFor();
    await p.waitForFunction(() => /[$#] *$/m.test(document.querySelector('#terminal .xterm-rows').innerText),
      null, { timeout: 300_000 });
    await p.locator('#terminal .xterm').click();
    const net = [], painted = [];
    for (let i = 0; i < Number(args.keys); i++) {
      await p.evaluate(() => {
        window.__wsIn = [];
        const ta = document.querySelector('#terminal .xterm-helper-textarea');
        window.__key = null;
        window.__paint = new Promise((resolve) => {
          const mo = new MutationObserver(() => { mo.disconnect(); resolve(performance.now()); });
          mo.observe(document.querySelector('#terminal .xterm-rows'), { subtree: true, childList: true, characterData: true });
        });
        ta.addEventListener('keydown', () => { window.__key = performance.now(); }, { once: true, capture: true });
      });
      await p.keyboard.press('x');
      const r = await p.evaluate(async () => {
        const paint = await window.__paint;
        return { key: window.__key, net: window.__wsIn[0], paint };
      });
      net.push(r.net - r.key);
      painted.push(r.paint - r.key);
      await sleep(30);
    }
    await p.keyboard.press('Control+U');
    // The browser's own floor: a trivial call (web.info) over a WebSocket of
    // the page, keydown-free; what the echo costs above this is the session path.
    const rtt = await p.evaluate(async (n) => {
      const ws = new WebSocket(`ws://${location.host}/ws`);
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
      const times = [];
      for (let i = 1; i <= n; i++) {
        const t0 = performance.now();
        const got = new Promise((resolve) => { ws.onmessage = resolve; });
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'web.info', params: {} }));
        await got;
        times.push(performance.now() - t0);
      }
      ws.close();
      return times;
    }, Number(args.keys));
    out.keystroke = {
      ws_call_ms_median: +median(rtt).toFixed(2),
      keys: net.length,
      echo_frame_ms_median: +median(net).toFixed(2), echo_frame_ms_p90: +pct(net, 0.9).toFixed(2),
      echo_painted_ms_median: +median(painted).toFixed(2), echo_painted_ms_p90: +pct(painted, 0.9).toFixed(2),
    };
    await p.close();
  }
} finally {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out, null, 1));
process.exit(0);
