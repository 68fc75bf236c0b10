// The dashboard: VMs, images, operations and sessions, redrawn from the
// Store whenever an event changes it (at most once per animation frame).
import { h, replace, bytes, duration, ticking, tick, progress, badge } from './dom.js';
import { confirmDialog, busy } from './ui.js';
import { vmActions } from './actions.js';
import * as api from './gen/rpc.js';

const MAX_OPS_SHOWN = 40;
// Names are [a-z0-9-] (the daemon refuses others): code-point order is the
// order a reader expects, at a fraction of localeCompare's cost.
const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export class Dashboard {
  constructor(ctx) {
    this.ctx = ctx;
    this.opLogs = new Map();  // op id -> {el, handle} of an open log
    this.vmBody = h('tbody', { role: 'rowgroup' });
    this.imageBody = h('tbody');
    this.opBody = h('tbody');
    this.sessionBody = h('tbody');
    this.counts = { vm: h('span', { class: 'count' }), image: h('span', { class: 'count' }),
                    op: h('span', { class: 'count' }), session: h('span', { class: 'count' }) };
    this.el = h('div', { class: 'dashboard' },
      this.vmSection(), this.imageSection(), this.sessionSection(), this.opSection());
    this.pending = false;
    this.memorySeen = null;  // the VMs' names and states when the headroom was last asked
    this.unsubscribe = ctx.store.subscribe(() => this.schedule());
    this.ticker = setInterval(() => tick(this.el), 1000);  // ages and uptimes only
    this.render();
  }

  destroy() {
    this.unsubscribe();
    clearInterval(this.ticker);
    for (const { handle } of this.opLogs.values()) if (handle) handle.cancel();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  render() {
    const s = this.ctx.store;
    this.renderVms(s);
    this.renderMemory(s);
    this.renderImages(s);
    this.renderOps(s);
    this.renderSessions(s);
    document.body.dataset.loaded = s.live ? 'yes' : 'no';
  }

  // ---- VMs ----
  vmSection() {
    const name = h('input', { name: 'name', placeholder: 'name', required: true, pattern: '[a-z0-9][a-z0-9\\-]*',
                              autocomplete: 'off', 'aria-label': 'VM name' });
    this.imageSelect = h('select', { name: 'image', 'aria-label': 'image' });
    const cpus = h('input', { name: 'cpus', type: 'number', min: 0, max: 64, placeholder: 'vCPUs',
                              'aria-label': 'vCPUs' });
    const mem = h('input', { name: 'memory_mib', type: 'number', min: 0, step: 64, placeholder: 'MiB',
                             'aria-label': 'memory MiB' });
    const form = h('form', { class: 'inline-form', id: 'create-vm' }, name, this.imageSelect, cpus, mem,
      h('button', { type: 'submit', class: 'primary' }, 'Create VM'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const params = { name: name.value.trim() };
      if (this.imageSelect.value) params.image = this.imageSelect.value;
      if (cpus.value) params.cpus = Number(cpus.value);
      if (mem.value) params.memory_mib = Number(mem.value);
      busy(form.querySelector('button'), api.vmCreate(this.ctx.daemon, params))
        .then(() => { name.value = ''; }, (err) => this.ctx.showError(err, `vm create ${params.name}`));
    });
    this.memory = h('span', { class: 'muted small', id: 'memory-headroom' });
    return h('section', { class: 'card', id: 'vms' },
      h('header', null, h('h2', null, 'Virtual machines ', this.counts.vm), this.memory, form),
      // Laid out as a grid (style.css): the roles keep it a table to assistive tech.
      h('div', { class: 'table-wrap' }, h('table', { role: 'table' },
        h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, ['Name', 'State', 'IP', 'Image', 'vCPUs', 'Memory', 'Uptime', '']
          .map((t) => h('th', { role: 'columnheader', class: t ? null : 'actions-h' }, t)))),
        this.vmBody)));
  }

  renderVms(s) {
    const vms = [...s.vms.values()].sort(byName);
    this.counts.vm.textContent = vms.length;
    const rows = vms.map((vm) => {
      const op = s.runningOpFor(vm.name);
      const state = [badge(vm.state)];
      if (op) state.push(progress(op.fraction, op.step || op.kind));
      else if (vm.error) state.push(h('div', { class: 'muted small' }, vm.error));
      // started_ms: when the daemon last launched the VM (kept across restarts).
      const uptime = vm.state === 'running' && vm.started_ms ? ticking('for', vm.started_ms) : '—';
      return h('tr', { role: 'row', dataset: { vm: vm.name, state: vm.state } },
        h('td', { role: 'cell', class: 'name' }, h('a', { href: `/vm/${encodeURIComponent(vm.name)}`, 'data-nav': true }, vm.name)),
        h('td', { role: 'cell', class: 'state' }, state),
        h('td', { role: 'cell', class: 'mono' }, vm.ip || '—'),
        h('td', { role: 'cell' }, vm.image),
        h('td', { role: 'cell', class: 'num' }, vm.cpus),
        h('td', { role: 'cell', class: 'num' }, bytes(vm.memory_mib * 1048576)),
        h('td', { role: 'cell', class: 'num' }, uptime),
        h('td', { role: 'cell', class: 'actions' }, vmActions(this.ctx, vm)));
    });
    replace(this.vmBody, rows.length ? rows : emptyRow(8, 'No VMs yet: create one above.'));
    const images = [...s.images.values()].filter((i) => i.state !== 'building');
    const current = this.imageSelect.value;
    replace(this.imageSelect, h('option', { value: '' }, 'default image'),
      images.map((i) => h('option', { value: i.name }, i.name)));
    this.imageSelect.value = images.some((i) => i.name === current) ? current : '';
  }

  // The memory budget's headroom (what admission control has left), asked
  // again whenever a VM appears, goes or changes state: admission follows
  // exactly those (the event stream does not carry it).
  renderMemory(s) {
    const seen = [...s.vms.values()].map((vm) => `${vm.name}:${vm.state}`).sort().join(' ');
    if (seen === this.memorySeen) return;
    this.memorySeen = seen;
    api.daemonStatus(this.ctx.daemon).then((st) => {
      const m = st.memory;
      if (!m || seen !== this.memorySeen) return;  // a newer ask is on its way
      const size = (n) => (n > 0 ? bytes(n) : '0 B');
      this.memory.dataset.budget = m.budget_bytes;
      this.memory.dataset.used = m.used_bytes;
      this.memory.title = `VMs are admitted while their memory plus ${size(m.overhead_bytes)} each fits the budget ([vm] memory_budget)`;
      replace(this.memory, `memory: ${size(m.used_bytes)} of ${size(m.budget_bytes)} admitted, ${size(m.headroom_bytes)} free`);
    }, () => {});  // the connection's own state says what went wrong
  }

  // ---- images ----
  imageSection() {
    const name = h('input', { name: 'name', placeholder: 'image name', required: true, autocomplete: 'off',
                              'aria-label': 'image name' });
    const recipe = h('textarea', { name: 'recipe', rows: 8, spellcheck: 'false',
      placeholder: 'Paste a recipe (TOML) here, or leave empty to build the built-in default.' });
    const form = h('form', { class: 'inline-form', id: 'build-image' }, name,
      h('button', { type: 'submit', class: 'primary' }, 'Build image'),
      h('details', { class: 'recipe' }, h('summary', null, 'recipe'), recipe));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const params = { name: name.value.trim() };
      if (recipe.value.trim()) { params.recipe = recipe.value; params.recipe_origin = 'pasted recipe'; }
      busy(form.querySelector('button'), api.imageBuild(this.ctx.daemon, params))
        .then((r) => { name.value = ''; if (r && r.op) this.openLog(r.op); },
              (err) => this.ctx.showError(err, `image build ${params.name}`));
    });
    return h('section', { class: 'card', id: 'images' },
      h('header', null, h('h2', null, 'Images ', this.counts.image), form),
      h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, ['Name', 'State', 'Source', 'Flavour', 'Size', 'Created', '']
          .map((t) => h('th', null, t)))),
        this.imageBody)));
  }

  renderImages(s) {
    const images = [...s.images.values()].sort(byName);
    this.counts.image.textContent = images.length;
    const rows = images.map((img) => {
      const op = s.runningOpFor(img.name);
      return h('tr', { dataset: { image: img.name } },
        h('td', { class: 'name' }, img.name),
        h('td', { class: 'state' }, badge(img.state), op ? progress(op.fraction, op.step || op.kind) : null),
        h('td', null, img.source || '—'),
        h('td', null, img.flavour || '—'),
        h('td', { class: 'num' }, bytes(img.bytes)),
        h('td', { class: 'num' }, ticking('ago', img.created_ms)),
        h('td', { class: 'actions' }, h('button', {
          class: 'small danger',
          onclick: async (ev) => {
            const btn = ev.currentTarget;
            if (!await confirmDialog(`Delete image “${img.name}”?`, 'Its files are removed.', 'Delete')) return;
            busy(btn, api.imageRm(this.ctx.daemon, { name: img.name }))
              .catch((err) => this.ctx.showError(err, `image rm ${img.name}`));
          },
        }, 'Delete')));
    });
    replace(this.imageBody, rows.length ? rows : emptyRow(7, 'No images: build the default one above.'));
  }

  // ---- operations ----
  opSection() {
    return h('section', { class: 'card', id: 'ops' },
      h('header', null, h('h2', null, 'Operations ', this.counts.op)),
      h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, ['Op', 'Kind', 'Target', 'State', 'Progress', 'Started', 'Took', '']
          .map((t) => h('th', null, t)))),
        this.opBody)));
  }

  renderOps(s) {
    const ops = s.opsSorted();
    const running = ops.filter((o) => o.state === 'running').length;
    this.counts.op.textContent = running ? `${running} running · ${ops.length}` : ops.length;
    const rows = [];
    for (const op of ops.slice(0, MAX_OPS_SHOWN)) {
      const fraction = op.state === 'succeeded' ? 1 : op.fraction;
      const log = this.opLogs.get(op.id);
      rows.push(h('tr', { dataset: { op: op.id, state: op.state, target: op.target } },
        h('td', { class: 'mono' }, op.id),
        h('td', null, op.kind),
        h('td', null, op.target),
        h('td', null, badge(op.state)),
        h('td', { class: 'progress-cell' }, progress(fraction, op.step || op.state, op.state),
          op.error ? h('div', { class: 'op-error' }, op.error) : null),
        h('td', { class: 'num' }, ticking('ago', op.started_ms)),
        h('td', { class: 'num' }, op.state === 'running' ? ticking('for', op.started_ms) :
          op.started_ms && op.ended_ms ? duration(op.ended_ms - op.started_ms) : '—'),
        h('td', { class: 'actions' },
          h('button', { class: 'small', onclick: () => (log ? this.closeLog(op.id) : this.openLog(op.id)) },
            log ? 'Hide log' : 'Log'),
          op.state === 'running' ? h('button', {
            class: 'small danger',
            onclick: (ev) => busy(ev.currentTarget, api.opCancel(this.ctx.daemon, { id: op.id }))
              .catch((err) => this.ctx.showError(err, `op cancel ${op.id}`)),
          }, 'Cancel') : null)));
      if (log) rows.push(h('tr', { class: 'log-row' }, h('td', { colspan: 8 }, log.el)));
    }
    replace(this.opBody, rows.length ? rows : emptyRow(8, 'No operations yet.'));
  }

  // The op's log through op.wait {logs:true} (which replays what it kept).
  openLog(id) {
    if (this.opLogs.has(id)) return;
    const el = h('pre', { class: 'log' });
    const entry = { el, handle: null };
    this.opLogs.set(id, entry);
    this.schedule();
    api.opWait(this.ctx.daemon.long({
      onNotify: (method, p) => {
        if (method !== 'op.log' || !p || p.id !== id) return;
        const stick = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
        el.append(`${p.line}\n`);
        if (stick) el.scrollTop = el.scrollHeight;
      },
    }), { id, logs: true }).then((handle) => {
      entry.handle = handle;
      handle.result.then(() => { if (!el.textContent) el.append('(no log lines: the daemon keeps an op\u2019s log only while it is in memory)\n'); },
        (err) => { if (err.code !== 'cancelled') el.append(`${err}\n`); });
    }, (err) => el.append(`${err}\n`));
  }

  closeLog(id) {
    const e = this.opLogs.get(id);
    if (e && e.handle) e.handle.cancel();
    this.opLogs.delete(id);
    this.schedule();
  }

  // ---- sessions ----
  sessionSection() {
    return h('section', { class: 'card', id: 'sessions' },
      h('header', null, h('h2', null, 'Sessions ', this.counts.session)),
      h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, ['Session', 'VM', 'Command', 'State', 'Attached', 'Started', '']
          .map((t) => h('th', null, t)))),
        this.sessionBody)));
  }

  renderSessions(s) {
    const list = [...s.sessions.values()].sort((a, b) => (b.started_ms || 0) - (a.started_ms || 0));
    this.counts.session.textContent = list.length;
    const rows = list.map((se) => {
      const live = se.state === 'running';
      const argv = Array.isArray(se.argv) && se.argv.length ? se.argv.join(' ') : '(login shell)';
      return h('tr', { dataset: { session: se.id } },
        h('td', { class: 'mono', title: se.id }, se.name || se.id),
        h('td', null, h('a', { href: `/vm/${encodeURIComponent(se.vm)}`, 'data-nav': true }, se.vm)),
        h('td', { class: 'mono' }, argv),
        h('td', null, badge(se.state), se.exit_code !== null && se.exit_code !== undefined ?
          h('span', { class: 'muted small' }, ` exit ${se.exit_code}`) : null),
        h('td', { class: 'num' }, se.attached || 0),
        h('td', { class: 'num' }, ticking('ago', se.started_ms)),
        h('td', { class: 'actions' },
          se.tty && live ? h('a', { class: 'button small',
            href: `/vm/${encodeURIComponent(se.vm)}?session=${encodeURIComponent(se.id)}`, 'data-nav': true }, 'Attach') : null,
          live ? h('button', {
            class: 'small danger',
            onclick: async (ev) => {
              const btn = ev.currentTarget;
              if (!await confirmDialog(`Kill session ${se.name || se.id}?`, 'Its command gets SIGTERM.', 'Kill')) return;
              busy(btn, api.sessionKill(this.ctx.daemon, { id: se.id }))
                .catch((err) => this.ctx.showError(err, `session kill ${se.id}`));
            },
          }, 'Kill') : null));
    });
    replace(this.sessionBody, rows.length ? rows : emptyRow(7, 'No sessions.'));
  }
}

function emptyRow(cols, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: cols }, text));
}
