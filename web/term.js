// A browser terminal on a detached guest session: xterm.js (served by the
// daemon from /assets/vendor/) attached through session.attach. Closing the
// page only detaches; attaching again replays the session's scrollback. The
// terminal's size follows its box and goes to the guest as a resize control.
import { Channel, controlPayload } from './rpc.js';
import * as api from './gen/rpc.js';

const VENDOR = '/assets/vendor';
let xtermLoaded = null;

// xterm.js writes its theme and cell sizes into <style> elements it creates,
// which the page's CSP (default-src 'self', no inline styles) blocks. A
// constructed stylesheet is CSSOM, which CSP allows: xterm gets an inert
// element whose textContent feeds such a sheet, adopted by the document and
// dropped again when xterm removes the element.
function cspSafeStyleElements() {
  const create = document.createElement.bind(document);
  document.createElement = (tag, options) => {
    if (String(tag).toLowerCase() !== 'style') return create(tag, options);
    const el = create('template');  // never rendered
    const sheet = new CSSStyleSheet();
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    let text = '';
    Object.defineProperty(el, 'textContent', {
      get: () => text,
      set: (v) => { text = String(v); sheet.replaceSync(text); },
    });
    const remove = el.remove.bind(el);
    el.remove = () => {
      document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== sheet);
      remove();
    };
    return el;
  };
}

// Loads a classic (UMD) script of ours; CSP allows it, being 'self'.
function loadScript(src) {
  return new Promise((resolve, reject) => {
    const el = document.createElement('script');
    el.src = src;
    el.onload = resolve;
    el.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(el);
  });
}

// Loads xterm.js and its fit addon once: the UMD builds npm ships, which
// scripts/fetch-web-assets.sh puts in web/vendor/ (they define the globals
// Terminal and FitAddon).
export function loadXterm() {
  if (!xtermLoaded) {
    cspSafeStyleElements();
    // Only a VM page needs xterm's stylesheet: the dashboard does not wait for it.
    document.head.append(Object.assign(document.createElement('link'),
      { rel: 'stylesheet', href: `${VENDOR}/xterm.css` }));
    xtermLoaded = Promise.all([loadScript(`${VENDOR}/xterm.js`), loadScript(`${VENDOR}/addon-fit.js`)])
      .then(() => {
        const fit = window.FitAddon && (window.FitAddon.FitAddon || window.FitAddon);
        if (!window.Terminal || !fit) throw new Error('xterm.js loaded but defined no Terminal/FitAddon');
        return { Terminal: window.Terminal, FitAddon: fit };
      })
      .catch((err) => {
        throw new Error(`cannot load xterm.js from ${VENDOR}/ (${err.message}); ` +
          'the daemon was built without web/vendor: run scripts/fetch-web-assets.sh and rebuild');
      });
  }
  return xtermLoaded;
}

export class TerminalView {
  // host: the element the terminal fills. onEnd(info|error): the attach ended.
  constructor(host, daemon, { onEnd = () => {}, onError = () => {} } = {}) {
    this.host = host;
    this.daemon = daemon;
    this.onEnd = onEnd;
    this.onError = onError;
    this.term = null;
    this.fit = null;
    this.attach = null;  // {conn, stream, result, cancel}
    this.ready = false;
    this.queued = [];
    this.encoder = new TextEncoder();
    this.resizeObserver = null;
    this.disposed = false;
  }

  async init() {
    const { Terminal, FitAddon } = await loadXterm();
    if (this.disposed) return;
    this.term = new Terminal({
      // A steady cursor (xterm's and most terminals' default). A blinking one
      // restarts its blink on every key, which asks Chromium for a frame, and
      // Chromium then holds the page's other tasks, the echo's WebSocket
      // message included, until that frame is out: a key's echo reached the
      // page 10 ms after the key with blinking and 5 ms without, and was on
      // screen after 27 ms instead of 10 (docs/BENCHMARKS.md, "Web UI").
      cursorBlink: false,
      scrollback: 10000,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Cascadia Mono", Menlo, Consolas, monospace',
      fontSize: 13,
      theme: { background: '#0b0f14', foreground: '#d6dde6', cursor: '#7cc4ff',
               selectionBackground: '#2b4a66' },
    });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(this.host);
    this.fitNow();
    this.term.onData((data) => this.input(this.encoder.encode(data)));
    this.term.onBinary((data) => this.input(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    this.term.onResize(({ cols, rows }) => {
      this.showSize();
      this.control({ resize: [cols, rows] });
    });
    this.showSize();
    this.resizeObserver = new ResizeObserver(() => this.fitNow());
    this.resizeObserver.observe(this.host);
  }

  // The size the guest is told, on the box (a tooltip, and what tests read).
  showSize() {
    this.host.dataset.cols = this.term.cols;
    this.host.dataset.rows = this.term.rows;
    this.host.title = `${this.term.cols}×${this.term.rows}`;
  }

  fitNow() {
    if (!this.fit || !this.host.offsetParent) return;
    try {
      this.fit.fit();
    } catch {
      // a hidden or zero-sized box: the next resize fits it
    }
  }

  size() {
    return this.term ? { cols: this.term.cols, rows: this.term.rows } : { cols: 80, rows: 24 };
  }

  // Attaches to session `id`; the daemon replays its scrollback first.
  async attachTo(id) {
    this.detach();
    this.term.reset();
    this.ready = false;
    this.queued = [];
    const { cols, rows } = this.size();
    const decoder = new TextDecoder();
    const handle = await api.sessionAttach(this.daemon.long({
      withStream: true,
      onStream: (channel, bytes) => {
        if (channel === Channel.STDOUT || channel === Channel.STDERR) {
          this.term.write(bytes);
        } else if (channel === Channel.CONTROL) {
          let c = null;
          try { c = JSON.parse(decoder.decode(bytes)); } catch { return; }
          if (c && c.ready) this.onReady();
        }
      },
    }), { id, scrollback: true, cols, rows });
    this.attach = handle;
    this.sessionId = id;
    this.host.dataset.session = id;
    handle.result.then((info) => {
      if (this.attach === handle) this.attach = null;
      this.onEnd(info);
    }, (err) => {
      if (this.attach === handle) this.attach = null;
      if (err.code !== 'cancelled') this.onError(err);
      this.onEnd(null);
    });
    this.term.focus();
    return handle;
  }

  onReady() {
    this.ready = true;
    const q = this.queued;
    this.queued = [];
    for (const [ch, b] of q) this.attach.conn.sendStream(this.attach.stream, ch, b);
    const { cols, rows } = this.size();
    this.control({ resize: [cols, rows] });
  }

  input(bytes) {
    if (!this.attach) return;
    if (!this.ready) {
      this.queued.push([Channel.STDIN, bytes]);  // the daemon takes stdin after "ready"
      return;
    }
    this.attach.conn.sendStream(this.attach.stream, Channel.STDIN, bytes);
  }

  control(obj) {
    if (!this.attach || !this.ready) return;
    this.attach.conn.sendStream(this.attach.stream, Channel.CONTROL, controlPayload(obj));
  }

  detach() {
    delete this.host.dataset.session;
    if (this.attach) {
      const a = this.attach;
      this.attach = null;
      a.cancel();
    }
  }

  dispose() {
    this.disposed = true;
    this.detach();
    if (this.resizeObserver) this.resizeObserver.disconnect();
    if (this.term) this.term.dispose();
  }
}
