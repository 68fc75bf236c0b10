// The daemon's own protocol over a WebSocket at /ws (docs: the web contract).
// Text frames carry JSON-RPC 2.0 messages exactly as on the unix socket;
// binary frames carry a session stream frame's payload:
//   u32 big-endian stream id | u8 channel | bytes
// No DOM here: the same module runs under node for its unit test.

export const Channel = Object.freeze({ STDIN: 0, STDOUT: 1, STDERR: 2, CONTROL: 3 });

// A daemon error as the CLI prints it ("warren: <message>"), with the code
// slug the daemon attaches (error.data.code, e.g. "not_found").
export class RpcError extends Error {
  constructor(message, code = 'internal', rpcCode = 0) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.rpcCode = rpcCode;
  }
  toString() {
    return `warren: ${this.message} (${this.code})`;
  }
}

export function errorFromJson(e) {
  const slug = e && e.data && typeof e.data.code === 'string' ? e.data.code : null;
  const rpcCode = e && typeof e.code === 'number' ? e.code : 0;
  return new RpcError(String((e && e.message) || 'unknown error'), slug || `rpc ${rpcCode}`, rpcCode);
}

export function encodeStreamFrame(stream, channel, bytes) {
  const out = new Uint8Array(5 + bytes.length);
  new DataView(out.buffer).setUint32(0, stream >>> 0, false);
  out[4] = channel;
  out.set(bytes, 5);
  return out;
}

// null when the payload is shorter than its 5-byte header.
export function decodeStreamFrame(buffer) {
  const all = new Uint8Array(buffer);
  if (all.length < 5) return null;
  const stream = new DataView(all.buffer, all.byteOffset, all.byteLength).getUint32(0, false);
  return { stream, channel: all[4], bytes: all.subarray(5) };
}

const encoder = new TextEncoder();
export const controlPayload = (obj) => encoder.encode(JSON.stringify(obj));

// The URL of /ws on the page's own origin (the cookie goes with it).
export function wsUrl(loc) {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws`;
}

// One WebSocket. Calls may overlap; each gets its own id, its result promise
// and cancel() ($/cancel). Notifications go to `onNotification` and to the
// onNotify of every call in flight (a long call usually has a connection of
// its own, so "its" notifications are unambiguous). Stream frames go to the
// handler of their stream id, registered by the call that owns the stream.
export class Connection {
  constructor(url, { WebSocketImpl = globalThis.WebSocket } = {}) {
    this.url = url;
    this.WebSocketImpl = WebSocketImpl;
    this.ws = null;
    this.nextId = 1;
    this.nextStream = 1;
    this.pending = new Map();  // id -> {resolve, reject, onNotify}
    this.streams = new Map();  // stream id -> fn(channel, Uint8Array)
    this.onNotification = null;
    this.onClose = null;
    this.closed = false;
  }

  // Resolves once the socket is open; rejects if it closes first. `socket`:
  // a WebSocket to this.url made earlier (connecting or open) to adopt.
  open(socket = null) {
    return new Promise((resolve, reject) => {
      const adopt = socket && socket.readyState <= 1;  // CONNECTING or OPEN
      const ws = adopt ? socket : new this.WebSocketImpl(this.url);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      let opened = false;
      ws.onopen = () => { opened = true; resolve(this); };
      if (adopt && ws.readyState === 1) ws.onopen();
      ws.onmessage = (ev) => this.receive(ev.data);
      ws.onclose = (ev) => {
        const why = opened ? 'the connection to the daemon closed' :
          'cannot reach the daemon\'s web socket (is the daemon running, and is this page opened from the URL `warren web` prints?)';
        this.shutdown(new RpcError(why + (ev && ev.code ? ` [${ev.code}]` : ''), 'unavailable'));
        if (!opened) reject(new RpcError(why, 'unavailable'));
      };
      ws.onerror = () => {};  // onclose follows with the reason
    });
  }

  newStreamId() {
    return this.nextStream++;
  }

  // Returns {id, result, cancel}. `onStream` receives this call's stream
  // frames when params.stream is set.
  call(method, params = {}, { onNotify = null, onStream = null } = {}) {
    const id = this.nextId++;
    let resolve, reject;
    const result = new Promise((res, rej) => { resolve = res; reject = rej; });
    const stream = params && typeof params.stream === 'number' ? params.stream : null;
    if (this.closed || !this.ws) {
      reject(new RpcError('not connected to the daemon', 'unavailable'));
      return { id, result, cancel: () => {} };
    }
    if (onStream && stream !== null) this.streams.set(stream, onStream);
    const done = () => {
      this.pending.delete(id);
      if (stream !== null) this.streams.delete(stream);
    };
    this.pending.set(id, {
      resolve: (v) => { done(); resolve(v); },
      reject: (e) => { done(); reject(e); },
      onNotify,
    });
    this.sendText({ jsonrpc: '2.0', id, method, params });
    return { id, result, cancel: () => this.cancel(id) };
  }

  cancel(id) {
    if (this.pending.has(id) && !this.closed) {
      this.sendText({ jsonrpc: '2.0', method: '$/cancel', params: { id } });
    }
  }

  sendStream(stream, channel, bytes) {
    if (this.closed || !this.ws) return false;
    const payload = typeof bytes === 'string' ? encoder.encode(bytes) : bytes;
    this.ws.send(encodeStreamFrame(stream, channel, payload));
    return true;
  }

  sendText(msg) {
    this.ws.send(JSON.stringify(msg));
  }

  close() {
    if (this.ws && !this.closed) this.ws.close();
    this.shutdown(new RpcError('the connection was closed by the page', 'cancelled'));
  }

  receive(data) {
    if (typeof data !== 'string') {
      const f = decodeStreamFrame(data);
      const sink = f && this.streams.get(f.stream);
      if (sink) sink(f.channel, f.bytes);
      return;
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;  // the daemon sends only JSON; nothing to do with garbage
    }
    if (msg.method !== undefined && msg.id === undefined) {
      if (this.onNotification) this.onNotification(msg.method, msg.params);
      for (const p of this.pending.values()) if (p.onNotify) p.onNotify(msg.method, msg.params);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.error) p.reject(errorFromJson(msg.error));
    else p.resolve(msg.result);
  }

  shutdown(err) {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.pending.values()]) p.reject(err);
    this.pending.clear();
    this.streams.clear();
    if (this.onClose) this.onClose(err);
  }
}

// The page's view of the daemon: one shared connection for short calls
// (reopened on demand after a drop) and a connection of its own for each
// long call (events, log follow, attach, op wait), so a long call never
// queues a short one behind it whatever order the server runs a
// connection's calls in.
export class Daemon {
  constructor(url, opts = {}) {
    this.url = url;
    this.opts = opts;
    this.shared = null;
    this.sharedOpening = null;  // the shared connection's open() in flight
  }

  async connection() {
    if (this.shared && !this.shared.closed) return this.shared;
    if (!this.sharedOpening) {
      const c = new Connection(this.url, this.opts);
      this.sharedOpening = c.open().then(() => { this.shared = c; return c; })
        .finally(() => { this.sharedOpening = null; });
    }
    return this.sharedOpening;
  }

  async call(method, params = {}) {
    const c = await this.connection();
    return c.call(method, params).result;
  }

  // An rpc object for web/gen/rpc.js whose call() makes a long call: the
  // generated function then resolves to open()'s handle, not the result.
  long(opts = {}) {
    return { call: (method, params) => this.open(method, params, opts) };
  }

  // A long call on a fresh connection, closed when the call ends. Returns
  // {conn, stream, result, cancel}; `stream` is allocated when withStream.
  // `socket`: a WebSocket opened earlier to adopt (see Connection.open).
  async open(method, params = {}, { onNotify = null, onStream = null, withStream = false, socket = null } = {}) {
    const conn = new Connection(this.url, this.opts);
    await conn.open(socket);
    const p = { ...params };
    if (withStream) p.stream = conn.newStreamId();
    const c = conn.call(method, p, { onNotify, onStream });
    const result = c.result.finally(() => conn.close());
    result.catch(() => {});
    return { conn, stream: p.stream, result, cancel: () => { c.cancel(); } };
  }
}
