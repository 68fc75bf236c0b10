// The browser e2e's driver: Debian's chromium, driven by playwright-core,
// through the whole web UI against a real daemon with real guests.
//
//   node e2e.mjs --url URL --out DIR --vm NAME [--deadline-s 900]
//
// Started by tests/e2e/web_e2e_test.cc, which owns the daemon and runs this
// in a PID namespace of its own (so the browser dies with it). Every wait has
// a deadline; the whole run has one too. Writes screenshots to --out. Exit 0
// on success, 1 on a failed step (its screenshot: failure.png), 2 at the
// deadline. Steps are logged as JSON lines on stdout.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { launchFirefox } from './firefox.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    out: { type: 'string' },
    vm: { type: 'string', default: 'webvm' },
    'deadline-s': { type: 'string', default: '900' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    driver: { type: 'string', default: process.env.WARREN_WEB_E2E_CACHE || '' },
    // Opt-in second browser: firefox-esr through puppeteer-core (firefox.mjs),
    // installed by tests/web/install-driver.sh firefox into --ff-driver.
    browser: { type: 'string', default: process.env.WARREN_WEB_E2E_BROWSER || 'chromium' },
    firefox: { type: 'string', default: '/usr/bin/firefox-esr' },
    'ff-driver': { type: 'string', default: process.env.WARREN_WEB_E2E_FF_CACHE || '' },
    // With both: the CLI shares the browser's session (send and logs).
    warren: { type: 'string', default: '' },
    root: { type: 'string', default: '' },
  },
});
if (!args.url || !args.out || !args.driver) {
  console.error('usage: e2e.mjs --url URL --out DIR --driver PLAYWRIGHT_CACHE_DIR [--vm NAME]');
  process.exit(64);
}
const require = createRequire(join(args.driver, 'node_modules', 'x.js'));
const { chromium } = require('playwright-core');

const STEP_MS = 60_000;          // a UI step
const BOOT_MS = 300_000;         // create → ready under TCG
const t0 = Date.now();
const log = (step, extra = {}) =>
  console.log(JSON.stringify({ t_ms: Date.now() - t0, step, ...extra }));

mkdirSync(args.out, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'warren-web-e2e-'));
let context = null;

async function cleanup() {
  if (context) await Promise.race([context.close().catch(() => {}), sleep(10_000)]);
  context = null;
  rmSync(profile, { recursive: true, force: true });
}

const deadline = setTimeout(async () => {
  log('deadline', { seconds: Number(args['deadline-s']) });
  await cleanup();
  process.exit(2);
}, Number(args['deadline-s']) * 1000);
deadline.unref();
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, async () => { await cleanup(); process.exit(3); });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// The terminal's visible text (xterm's DOM renderer: one div per row).
const termText = (page) => page.locator('#terminal .xterm-rows').innerText({ timeout: STEP_MS });

async function waitForTerm(page, re, what, timeout = STEP_MS) {
  const end = Date.now() + timeout;
  let text = '';
  while (Date.now() < end) {
    text = await termText(page).catch(() => '');
    const m = text.match(re);
    if (m) return m;
    await sleep(200);
  }
  throw new Error(`terminal never showed ${what} within ${timeout} ms; it shows:\n${text}`);
}

async function typeLine(page, line) {
  await page.locator('#terminal .xterm').click();
  await page.keyboard.type(line, { delay: 10 });
  await page.keyboard.press('Enter');
}

async function termSize(page) {
  const host = page.locator('#terminal');
  return { cols: Number(await host.getAttribute('data-cols')), rows: Number(await host.getAttribute('data-rows')) };
}

// `stty size` in the guest must report what the browser's terminal shows.
async function checkSttyFollows(page, tag) {
  const { cols, rows } = await termSize(page);
  const marker = `sz${tag}`;
  await typeLine(page, `echo ${marker}=$(stty size | tr ' ' x)`);
  const m = await waitForTerm(page, new RegExp(`${marker}=(\\d+)x(\\d+)`), `stty size (${tag})`);
  const got = { rows: Number(m[1]), cols: Number(m[2]) };
  log('stty', { tag, browser: { cols, rows }, guest: got });
  if (got.rows !== rows || got.cols !== cols) {
    throw new Error(`guest stty size ${got.rows} ${got.cols} != browser terminal ${rows} ${cols}`);
  }
  return got;
}

// At a phone's width (390 px) the page fits: nothing scrolls sideways. Back
// at the laptop size afterwards.
async function checkPhoneWidth(page, shot) {
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(300);
  const { scroll, width } = await page.evaluate(() =>
    ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  await page.screenshot({ path: join(args.out, shot) });
  if (scroll > width) throw new Error(`at 390 px the page is ${scroll} px wide (${shot})`);
  log('phone width', { shot, scroll, width });
  await page.setViewportSize({ width: 1400, height: 900 });
}

async function vmRow(page) {
  return page.locator(`#vms tr[data-vm="${args.vm}"]`);
}

async function launch() {
  if (args.browser === 'firefox') {
    return launchFirefox(args['ff-driver'] || args.driver, { executablePath: args.firefox, width: 1400, height: 900,
                                              timeout: STEP_MS });
  }
  return chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: STEP_MS,
  });
}

async function run() {
  context = await launch();
  log('browser', { browser: args.browser });
  context.setDefaultTimeout(STEP_MS);
  const errors = [];
  let page = context.pages()[0] || await context.newPage();
  const watch = (p) => {
    p.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    p.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  };
  watch(page);

  // 1. The URL `warren web` printed: the token becomes a cookie, then the dashboard.
  await page.goto(args.url);
  if (page.url().includes('token=')) throw new Error(`the token stayed in the URL: ${page.url()}`);
  await page.locator('#conn[data-state="live"]').waitFor();
  await page.locator('body[data-loaded="yes"]').waitFor();
  await page.locator('#images tr[data-image]').first().waitFor();
  log('dashboard', { url: page.url() });

  // 2. Create a VM from the page; watch its progress bar until it is ready.
  // The page records every progress value it draws: polling from the driver
  // samples too coarsely over WebDriver BiDi (Firefox) to see two of them.
  await page.evaluate((vm) => {
    window.__progress = new Set();
    new MutationObserver(() => {
      for (const b of document.querySelectorAll(`#vms tr[data-vm="${vm}"] .bar`)) {
        const v = Number(b.getAttribute('aria-valuenow'));
        if (Number.isFinite(v) && v >= 0) window.__progress.add(v);
      }
    }).observe(document.getElementById('main'), { subtree: true, childList: true, attributes: true });
  }, args.vm);
  await page.fill('#create-vm input[name="name"]', args.vm);
  await page.fill('#create-vm input[name="memory_mib"]', '384');
  await page.click('#create-vm button[type="submit"]');
  const row = await vmRow(page);
  await row.waitFor();
  const seen = new Set();
  const end = Date.now() + BOOT_MS;
  while (true) {
    const bar = row.locator('.bar');
    if (await bar.count()) {
      const v = Number(await bar.getAttribute('aria-valuenow').catch(() => -1));
      if (!seen.size) await page.screenshot({ path: join(args.out, 'dashboard-creating.png') });
      if (v >= 0) seen.add(v);
    }
    const state = await row.getAttribute('data-state');
    if (state === 'running' && !(await bar.count())) break;
    if (state === 'failed') throw new Error(`VM ${args.vm} failed: ${await row.innerText()}`);
    if (Date.now() > end) throw new Error(`VM ${args.vm} not ready within ${BOOT_MS} ms (state ${state})`);
    await sleep(100);
  }
  const op = page.locator(`#ops tr[data-target="${args.vm}"][data-state="succeeded"] .bar[aria-valuenow="100"]`);
  await op.first().waitFor();
  for (const v of await page.evaluate(() => [...window.__progress])) seen.add(v);
  log('vm ready', { progress_seen: [...seen].sort((a, b) => a - b) });
  if (seen.size < 2) throw new Error(`the VM row's progress bar was seen at ${[...seen]} only`);
  await page.screenshot({ path: join(args.out, 'dashboard.png') });
  await checkPhoneWidth(page, 'dashboard-phone.png');
  // The budget's headroom counts the new VM (384 MiB + its overhead).
  const memory = page.locator('#memory-headroom');
  const deadline = Date.now() + STEP_MS;
  while (Number(await memory.getAttribute('data-used').catch(() => 0)) < 384 * 1048576) {
    if (Date.now() > deadline) throw new Error(`memory headroom never counted ${args.vm}: "${await memory.innerText()}"`);
    await sleep(100);
  }
  const budget = Number(await memory.getAttribute('data-budget'));
  if (!(budget > 0)) throw new Error(`no memory budget shown: "${await memory.innerText()}"`);
  log('memory', { text: await memory.innerText() });

  // 3. Its page; a terminal; uname -a shows the guest's kernel.
  await row.locator('td.name a').click();
  await page.locator('#open-terminal').click();
  await page.locator('#terminal .xterm-rows').waitFor();
  await waitForTerm(page, /[$#] *$/m, 'a shell prompt', BOOT_MS);
  await typeLine(page, 'uname -a');
  const uname = await waitForTerm(page, /Linux (\S+) (\d+\.\d+\S*) #/, 'uname -a output');
  log('uname', { hostname: uname[1], release: uname[2] });
  if (uname[1] !== args.vm) throw new Error(`uname -a ran on "${uname[1]}", not the guest ${args.vm}`);
  const before = await checkSttyFollows(page, 'a');

  // 4. Resize the window: the terminal refits and the guest's stty follows.
  await page.setViewportSize({ width: 820, height: 640 });
  await page.waitForFunction((c) => Number(document.querySelector('#terminal').dataset.cols) !== c, before.cols);
  const after = await checkSttyFollows(page, 'b');
  if (after.cols === before.cols) throw new Error('resizing the window did not change the terminal');
  await typeLine(page, 'echo marker-$((6*7)) && ls / | head -5');
  await waitForTerm(page, /marker-42/, 'the marker');
  await checkPhoneWidth(page, 'terminal-phone.png');
  await page.evaluate(() => window.scrollTo(0, 0));
  await sleep(300);
  await page.screenshot({ path: join(args.out, 'terminal.png') });

  // 5. Close the tab; a new one re-attaches and replays the scrollback.
  const vmUrl = page.url();
  await page.close();
  page = await context.newPage();
  watch(page);
  await page.goto(vmUrl);
  await waitForTerm(page, /marker-42/, 'the scrollback after reopening');
  await waitForTerm(page, /Linux \S+ \d+\.\d+/, 'uname -a in the scrollback');
  await typeLine(page, 'echo still-$((40+2))');
  await waitForTerm(page, /still-42/, 'a live shell after re-attaching');
  log('reattached');

  // 6. The CLI reaches the same session: its input shows in the browser, and
  //    its view of the session holds what was typed in the browser.
  if (args.warren && args.root) {
    const id = await page.locator('#terminal').getAttribute('data-session');
    const cli = (...a) => {
      const r = spawnSync(args.warren, ['--root', args.root, ...a], { encoding: 'utf8', timeout: 30_000 });
      if (r.status !== 0) throw new Error(`warren ${a.join(' ')}: exit ${r.status} ${r.error || ''}\n${r.stderr}`);
      return r.stdout;
    };
    cli('session', 'send', id, 'echo from-cli-$((20+22))');
    await waitForTerm(page, /from-cli-42/, 'what the CLI sent');
    const scrollback = cli('session', 'logs', id);
    if (!scrollback.includes('still-42')) {
      throw new Error(`warren session logs ${id} lacks what the browser typed:\n${scrollback.slice(-2000)}`);
    }
    log('shared with the CLI', { session: id });
  }

  // 7. Stop and delete the VM from the dashboard.
  await page.locator('nav.crumbs a').click();
  const row2 = await vmRow(page);
  await row2.locator('button[data-action="stop"]').click();
  await page.locator(`#vms tr[data-vm="${args.vm}"][data-state="stopped"]`).waitFor({ timeout: 120_000 });
  log('stopped');
  await row2.locator('button[data-action="delete"]').click();
  await page.locator('dialog.confirm button[data-action="confirm"]').click();
  await row2.waitFor({ state: 'detached', timeout: 120_000 });
  log('deleted');
  if (errors.length) throw new Error(`the page logged errors:\n${errors.join('\n')}`);
}

try {
  await run();
  log('ok');
  await cleanup();
  process.exit(0);
} catch (err) {
  log('failed', { error: String(err && err.stack || err) });
  try {
    const pages = context ? context.pages() : [];
    if (pages.length) await pages[pages.length - 1].screenshot({ path: join(args.out, 'failure.png') });
  } catch {
    // no screenshot: the browser is gone
  }
  await cleanup();
  process.exit(1);
}
