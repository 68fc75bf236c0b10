// The dashboard's model: what the daemon's lists returned, kept current by
// events.subscribe notifications. The lists come with the subscription
// (`snapshot`, its first event); after an overflow the page lists again by
// hand, and events that arrive before those lists are held and replayed over
// them (each event carries the whole object, so replaying one that the list
// already reflects is harmless). No DOM here (tested under node).

// image.list rows are summaries; image events carry image.inspect's JSON.
// Both become the same row.
export function imageRow(j) {
  if (!j || typeof j !== 'object') return j;
  if (!j.manifest) return j;
  const m = j.manifest || {};
  let total = 0;
  for (const part of Object.values(m.parts || {})) total += Number(part.bytes) || 0;
  return {
    name: j.name,
    created_ms: j.created_ms,
    state: j.state,
    source: (m.source && m.source.type) || '',
    flavour: (m.facts && m.facts.flavour) || '',
    bytes: total,
  };
}

const KEY = {
  vm: (data, target) => (data && data.name) || target,
  image: (data, target) => (data && data.name) || target,
  op: (data, target) => (data && data.id) || target,
  session: (data, target) => (data && data.id) || target,
};

export class Store {
  constructor() {
    this.vms = new Map();
    this.images = new Map();
    this.ops = new Map();
    this.sessions = new Map();
    this.seq = 0;
    this.live = false;  // lists loaded and events applied as they come
    this.held = [];
    this.listeners = new Set();
    this.onResync = null;  // set by the page: lists everything, then load()
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed(kind) {
    for (const fn of this.listeners) fn(kind);
  }

  // Called before the lists arrive on every (re)subscription.
  beginLoad() {
    this.live = false;
    this.held = [];
  }

  load({ vms = [], images = [], ops = [], sessions = [] }) {
    this.vms = new Map(vms.map((v) => [v.name, v]));
    this.images = new Map(images.map((i) => [i.name, imageRow(i)]));
    this.ops = new Map(ops.map((o) => [o.id, o]));
    this.sessions = new Map(sessions.map((s) => [s.id, s]));
    const held = this.held;
    this.held = [];
    this.live = true;
    for (const ev of held) this.applyOne(ev);
    this.changed('all');
  }

  // One `event` notification's params.
  event(ev) {
    if (!ev || typeof ev !== 'object') return;
    if (ev.kind === 'meta' && ev.action === 'subscribed') {
      // events.subscribe {snapshot: true}: the lists come with the subscription.
      if (ev.data && Array.isArray(ev.data.vms)) this.load(ev.data);
      return;
    }
    if (ev.kind === 'meta' && ev.action === 'overflow') {
      // This page read too slowly and the daemon dropped events for it: hold
      // what comes next and list everything again.
      if (this.live && this.onResync) {
        this.beginLoad();
        this.onResync();
      }
      return;
    }
    if (!this.live) {
      this.held.push(ev);
      return;
    }
    if (this.applyOne(ev)) this.changed(ev.kind);
  }

  applyOne(ev) {
    const keyOf = KEY[ev.kind];
    if (!keyOf) return false;
    if (typeof ev.seq === 'number') this.seq = Math.max(this.seq, ev.seq);
    const map = this.mapOf(ev.kind);
    const key = keyOf(ev.data, ev.target);
    const empty = !ev.data || Object.keys(ev.data).length === 0;
    if (ev.action === 'deleted' || (empty && ev.action !== 'ended')) {
      map.delete(key);
      return true;
    }
    if (empty) {  // session ended without a body: keep the row, mark it
      const old = map.get(key);
      if (old) map.set(key, { ...old, state: 'ended' });
      return true;
    }
    const row = ev.kind === 'image' ? imageRow(ev.data) : ev.data;
    map.set(key, row);
    return true;
  }

  mapOf(kind) {
    return { vm: this.vms, image: this.images, op: this.ops, session: this.sessions }[kind];
  }

  // The running op acting on a VM or image (create, build), if any.
  runningOpFor(target) {
    for (const op of this.ops.values()) {
      if (op.target === target && op.state === 'running') return op;
    }
    return null;
  }

  opsSorted() {
    return [...this.ops.values()].sort((a, b) => {
      const ra = a.state === 'running' ? 1 : 0;
      const rb = b.state === 'running' ? 1 : 0;
      if (ra !== rb) return rb - ra;
      return (b.started_ms || 0) - (a.started_ms || 0);
    });
  }
}
