// /vm/<name>: what `warren vm inspect` shows, the serial console following
// live (vm.logs {follow}), and a terminal on a detached PTY session.
import { h, replace, bytes, clock, badge, progress, ticking, tick } from './dom.js';
import { vmActions } from './actions.js';
import { TerminalView } from './term.js';
import { Channel } from './rpc.js';
import * as api from './gen/rpc.js';

const CONSOLE_TAIL_BYTES = 256 << 10;
const CONSOLE_KEEP_CHARS = 512 << 10;
// Which session this browser's terminal was on, per VM: reopening the page
// re-attaches to it (the daemon keeps it running while nobody is attached).
const sessionKey = (vm) => `warren.terminal.${vm}`;

// Serial output carries terminal escapes; the console panel shows text.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]|\r(?!\n)/g;

export class VmPage {
  constructor(ctx, name) {
    this.ctx = ctx;
    this.name = name;
    this.inspect = null;
    this.destroyed = false;
    this.headEl = h('div', { class: 'vm-head' });
    this.detailsEl = h('dl', { class: 'details' });
    this.consoleEl = h('pre', { class: 'console', tabindex: 0 });
    this.termHost = h('div', { class: 'term-host', id: 'terminal' });
    this.termBar = h('div', { class: 'term-bar' });
    this.el = h('div', { class: 'vm-page' },
      h('nav', { class: 'crumbs' }, h('a', { href: '/', 'data-nav': true }, '← all VMs')),
      this.headEl,
      h('div', { class: 'vm-grid' },
        h('section', { class: 'card term-card' }, h('header', null, h('h2', null, 'Terminal'), this.termBar),
          this.termHost),
        h('section', { class: 'card' }, h('header', null, h('h2', null, 'Details')), this.detailsEl),
        h('section', { class: 'card console-card' }, h('header', null, h('h2', null, 'Serial console')),
          this.consoleEl)));
    this.term = null;
    this.unsubscribe = ctx.store.subscribe((kind) => {
      if (kind === 'vm' || kind === 'all') this.refreshInspect();
      if (kind === 'session' || kind === 'op' || kind === 'all') this.renderHead();
    });
    this.ticker = setInterval(() => tick(this.detailsEl), 1000);  // the uptime
    this.refreshInspect();
    this.followConsole();
    this.setupTerminal();
  }

  destroy() {
    this.destroyed = true;
    this.unsubscribe();
    if (this.logs) this.logs.cancel();
    if (this.term) this.term.dispose();
    clearTimeout(this.inspectTimer);
    clearTimeout(this.consoleRetry);
    clearInterval(this.ticker);
  }

  // ---- details ----
  refreshInspect() {
    clearTimeout(this.inspectTimer);
    this.inspectTimer = setTimeout(() => {
      api.vmInspect(this.ctx.daemon, { name: this.name }).then((j) => {
        this.inspect = j;
        this.renderDetails();
        this.renderHead();
      }, (err) => {
        this.inspect = null;
        replace(this.detailsEl, h('div', { class: 'error-inline' }, err.toString()));
        this.renderHead();
      });
    }, 50);
  }

  renderHead() {
    if (this.destroyed) return;
    const vm = this.inspect || this.ctx.store.vms.get(this.name);
    if (!vm) {
      replace(this.headEl, h('h1', null, this.name), badge('gone'));
      return;
    }
    const op = this.ctx.store.runningOpFor(this.name);
    replace(this.headEl,
      h('h1', null, vm.name), badge(vm.state),
      op ? progress(op.fraction, op.step || op.kind) : null,
      h('div', { class: 'spacer' }),
      h('div', { class: 'actions' }, vmActions(this.ctx, vm, {
        open: false,
        onDeleted: () => this.ctx.navigate('/'),
      })));
    this.renderTermBar();
  }

  renderDetails() {
    const j = this.inspect;
    const rows = [
      ['Name', j.name], ['ID', j.id], ['State', j.state], ['Step', j.step || '—'], ['Image', j.image],
      ['vCPUs', j.cpus], ['Memory', bytes(j.memory_mib * 1048576)], ['Disk', bytes(j.disk_gib * 1073741824)],
      ['IP', j.ip || '—'], ['DNS name', j.dns_name || '—'], ['MAC', j.mac || '—'], ['TAP', j.tap || '—'],
      ['QEMU pid', j.pid || '—'], ['Created', clock(j.created_ms)], ['Started', clock(j.started_ms)],
      ['Uptime', j.state === 'running' && j.started_ms ? ticking('for', j.started_ms) : '—'],
      ['Console log', j.console_log || '—'],
    ];
    if (j.error) rows.push(['Error', j.error]);
    // Anything else vm inspect gains later shows up too.
    const known = new Set(['name', 'id', 'state', 'step', 'image', 'cpus', 'memory_mib', 'disk_gib', 'ip',
      'dns_name', 'mac', 'tap', 'pid', 'created_ms', 'started_ms', 'console_log', 'error']);
    for (const [k, v] of Object.entries(j)) {
      if (known.has(k)) continue;
      if (k === 'caps' && v && typeof v === 'object') {
        // One row per capability, as `vm inspect` prints them.
        for (const [cap, d] of Object.entries(v)) rows.push(['caps.' + cap, JSON.stringify(d)]);
      } else {
        rows.push([k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
      }
    }
    replace(this.detailsEl, rows.map(([k, v]) => [h('dt', null, k), h('dd', { class: 'mono' }, typeof v === 'object' ? v : String(v))]));
  }

  // ---- serial console ----
  async followConsole() {
    const decoder = new TextDecoder();
    const el = this.consoleEl;
    el.textContent = '';
    try {
      this.logs = await api.vmLogs(this.ctx.daemon.long({
          withStream: true,
          onStream: (channel, b) => {
            if (channel !== Channel.STDOUT) return;
            const stick = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
            el.append(decoder.decode(b, { stream: true }).replace(ANSI, ''));
            if (el.textContent.length > CONSOLE_KEEP_CHARS) {
              el.textContent = el.textContent.slice(-CONSOLE_KEEP_CHARS / 2);
            }
            if (stick) el.scrollTop = el.scrollHeight;
          },
        }), { name: this.name, follow: true, tail_bytes: CONSOLE_TAIL_BYTES });
      if (this.destroyed) { this.logs.cancel(); return; }
      await this.logs.result;
    } catch (err) {
      if (this.destroyed || err.code === 'cancelled') return;
      const line = `[${err}]\n`;
      if (!el.textContent.endsWith(line)) el.append(line);
    }
    // The VM may have no log yet (creating) or the connection dropped: follow again.
    if (!this.destroyed) this.consoleRetry = setTimeout(() => this.followConsole(), 3000);
  }

  // ---- terminal ----
  setupTerminal() {
    this.termStatus = h('span', { class: 'muted small term-status' },
      'a login shell here keeps running when you close the page');
    this.term = new TerminalView(this.termHost, this.ctx.daemon, {
      onEnd: (info) => {
        if (info && !info.detached) {
          this.setTermStatus(`session ended${info.exit_code !== null && info.exit_code !== undefined ?
            ` (exit ${info.exit_code})` : ''}`);
          localStorage.removeItem(sessionKey(this.name));
          this.attachedId = null;
          this.renderTermBar();
        }
      },
      onError: (err) => {
        if (err.code === 'not_found') {  // a remembered session that has since gone
          localStorage.removeItem(sessionKey(this.name));
          this.attachedId = null;
          this.renderTermBar();
        }
        this.ctx.showError(err, 'terminal');
        this.setTermStatus(err.toString());
      },
    });
    this.term.init().then(() => {
      const wanted = new URLSearchParams(window.location.search).get('session') ||
        localStorage.getItem(sessionKey(this.name));
      if (wanted) this.attach(wanted);
      this.renderTermBar();
    }, (err) => {
      replace(this.termHost, h('div', { class: 'error-inline' }, err.message));
    });
  }

  setTermStatus(text) {
    this.termStatus.textContent = text;
  }

  renderTermBar() {
    if (!this.termStatus) return;
    const running = [...this.ctx.store.sessions.values()]
      .filter((s) => s.vm === this.name && s.tty && s.state === 'running');
    const others = running.filter((s) => s.id !== this.attachedId);
    replace(this.termBar,
      this.termStatus,
      others.length ? h('select', {
        class: 'small', 'aria-label': 'attach to a session',
        onchange: (ev) => { if (ev.target.value) this.attach(ev.target.value); },
      }, h('option', { value: '' }, 'attach…'),
      others.map((s) => h('option', { value: s.id }, `${s.name || s.id}`))) : null,
      h('button', { class: 'small primary', id: 'open-terminal', onclick: () => this.newShell() },
        this.attachedId ? 'New shell' : 'Open terminal'),
      this.attachedId ? h('button', { class: 'small', onclick: () => this.detach() }, 'Detach') : null);
  }

  // A login shell as a detached session: it outlives this page.
  async newShell() {
    const { cols, rows } = this.term.size();
    this.setTermStatus('starting a shell…');
    try {
      const info = await api.sessionStart(this.ctx.daemon, {
        vm: this.name, tty: true, cols, rows, wait: true, wait_timeout_s: 300,
        name: `web-${Date.now().toString(36)}`,
      });
      await this.attach(info.id);
    } catch (err) {
      this.ctx.showError(err, `session start ${this.name}`);
      this.setTermStatus('');
    }
  }

  async attach(id) {
    try {
      await this.term.attachTo(id);
      this.attachedId = id;
      localStorage.setItem(sessionKey(this.name), id);
      this.setTermStatus(`session ${id} · also: warren session attach ${id}`);
    } catch (err) {
      localStorage.removeItem(sessionKey(this.name));
      this.ctx.showError(err, `session attach ${id}`);
      this.setTermStatus('');
    }
    this.renderTermBar();
  }

  detach() {
    this.term.detach();
    this.attachedId = null;
    localStorage.removeItem(sessionKey(this.name));
    this.setTermStatus('detached; the session keeps running');
    this.renderTermBar();
  }
}
