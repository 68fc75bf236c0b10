// A VM's lifecycle buttons (dashboard rows and the VM page share them).
// Lifecycle calls can take a while (a clean stop waits for the guest), so each
// runs on a connection of its own.
import { h } from './dom.js';
import { confirmDialog, busy } from './ui.js';
import * as api from './gen/rpc.js';

export function vmActions(ctx, vm, { open = true, onDeleted = null } = {}) {
  const d = ctx.daemon;
  // Each call on a connection of its own: api.* then resolves to the handle.
  const act = (label, fn, params, cls = '') => h('button', {
    class: `small ${cls}`, 'data-action': label.toLowerCase(),
    onclick: (ev) => busy(ev.currentTarget, fn(d.long(), params).then((c) => c.result))
      .catch((err) => ctx.showError(err, `vm ${label.toLowerCase()} ${vm.name}`)),
  }, label);
  const out = [];
  if (open) {
    out.push(h('a', { class: 'button small', href: `/vm/${encodeURIComponent(vm.name)}`, 'data-nav': true },
      'Open'));
  }
  if (vm.state === 'stopped' || vm.state === 'failed') out.push(act('Start', api.vmStart, { name: vm.name }));
  if (vm.state === 'running') {
    out.push(act('Stop', api.vmStop, { name: vm.name }));
    out.push(act('Restart', api.vmRestart, { name: vm.name }));
  }
  out.push(h('button', {
    class: 'small danger', 'data-action': 'delete',
    onclick: async (ev) => {
      const btn = ev.currentTarget;
      const running = vm.state !== 'stopped' && vm.state !== 'failed';
      const ok = await confirmDialog(`Delete VM “${vm.name}”?`,
        running ? 'It is not stopped: it will be killed, and its disk removed.' : 'Its disk will be removed.',
        'Delete');
      if (!ok) return;
      busy(btn, api.vmRm(d.long(), { name: vm.name, force: running }).then((c) => c.result))
        .then(() => { if (onDeleted) onDeleted(); },
              (err) => ctx.showError(err, `vm rm ${vm.name}`));
    },
  }, 'Delete'));
  return out;
}
