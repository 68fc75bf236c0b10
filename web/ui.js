// Shared widgets: the confirmation dialog and the busy state of a button.
import { h } from './dom.js';

// Resolves true when the user confirms. A real <dialog>: modal, Escape cancels.
export function confirmDialog(title, detail, confirmLabel = 'OK') {
  return new Promise((resolve) => {
    const yes = h('button', { class: 'danger', value: 'yes', 'data-action': 'confirm' }, confirmLabel);
    const dlg = h('dialog', { class: 'confirm' },
      h('form', { method: 'dialog' },
        h('h3', null, title),
        detail ? h('p', null, detail) : null,
        h('div', { class: 'dialog-buttons' },
          h('button', { value: 'no', 'data-action': 'cancel' }, 'Cancel'), yes)));
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'yes');
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
    yes.focus();
  });
}

// Disables `button` until `promise` settles; returns the promise.
export function busy(button, promise) {
  if (button) {
    button.disabled = true;
    button.classList.add('busy');
  }
  const done = () => {
    if (button) {
      button.disabled = false;
      button.classList.remove('busy');
    }
  };
  promise.then(done, done);
  return promise;
}
