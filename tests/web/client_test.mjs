// The page's protocol logic without a browser: the WebSocket JSON-RPC client
// (ids, overlapping calls, $/cancel, notifications, binary stream frames,
// errors as the CLI prints them, a dropped connection) and the Store's
// subscribe-then-list merge. Runs with `node --test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Connection, Daemon, RpcError, Channel, encodeStreamFrame, decodeStreamFrame, errorFromJson,
} from '../../web/rpc.js';
import { Store, imageRow } from '../../web/store.js';

// A WebSocket double: records what the client sends, lets the test play the
// daemon's side.
class FakeSocket {
  static last = null;
  static all = [];
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.closed = false;
    FakeSocket.last = this;
    FakeSocket.all.push(this);
    queueMicrotask(() => this.onopen && this.onopen());
  }
  send(data) { this.sent.push(data); }
  close() { this.closed = true; this.onclose && this.onclose({ code: 1000 }); }
  // Daemon side.
  json(i) { return JSON.parse(this.sent[i]); }
  reply(msg) { this.onmessage({ data: JSON.stringify({ jsonrpc: '2.0', ...msg }) }); }
  binary(bytes) { this.onmessage({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) }); }
  drop(code = 1006) { this.onclose({ code }); }
}

const open = async () => new Connection('ws://x/ws', { WebSocketImpl: FakeSocket }).open();

test('stream frames: u32 big-endian id, channel byte, payload', () => {
  const f = encodeStreamFrame(0x01020304, Channel.CONTROL, new TextEncoder().encode('hi'));
  assert.deepEqual([...f], [1, 2, 3, 4, 3, 104, 105]);
  const d = decodeStreamFrame(f.buffer);
  assert.equal(d.stream, 0x01020304);
  assert.equal(d.channel, 3);
  assert.equal(new TextDecoder().decode(d.bytes), 'hi');
  assert.equal(decodeStreamFrame(new Uint8Array([0, 0, 0, 1]).buffer), null);
});

test('overlapping calls get distinct ids and their own results', async () => {
  const c = await open();
  const ws = FakeSocket.last;
  const a = c.call('vm.list');
  const b = c.call('op.list', { x: 1 });
  assert.equal(ws.json(0).method, 'vm.list');
  assert.deepEqual(ws.json(1).params, { x: 1 });
  assert.notEqual(ws.json(0).id, ws.json(1).id);
  ws.reply({ id: ws.json(1).id, result: { ops: [] } });
  ws.reply({ id: ws.json(0).id, result: { vms: [1] } });
  assert.deepEqual(await a.result, { vms: [1] });
  assert.deepEqual(await b.result, { ops: [] });
});

test('errors read as the CLI prints them, with the daemon code', async () => {
  const c = await open();
  const ws = FakeSocket.last;
  const call = c.call('vm.start', { name: 'nope' });
  ws.reply({ id: ws.json(0).id, error: { code: -32004, message: 'VM "nope" does not exist; see `warren vm ls`',
                                         data: { code: 'not_found' } } });
  await assert.rejects(call.result, (e) => {
    assert.ok(e instanceof RpcError);
    assert.equal(e.code, 'not_found');
    assert.equal(String(e), 'warren: VM "nope" does not exist; see `warren vm ls` (not_found)');
    return true;
  });
  assert.equal(errorFromJson({ code: -32601, message: 'no such method' }).code, 'rpc -32601');
});

test('cancel sends $/cancel with the call id; nothing after it settles', async () => {
  const c = await open();
  const ws = FakeSocket.last;
  const call = c.call('events.subscribe', {});
  call.cancel();
  assert.deepEqual(ws.json(1), { jsonrpc: '2.0', method: '$/cancel', params: { id: ws.json(0).id } });
  ws.reply({ id: ws.json(0).id, result: {} });
  await call.result;
  call.cancel();
  assert.equal(ws.sent.length, 2);
});

test('notifications reach the connection and the calls in flight', async () => {
  const c = await open();
  const ws = FakeSocket.last;
  const seen = [];
  c.onNotification = (m, p) => seen.push(['conn', m, p.seq]);
  c.call('events.subscribe', {}, { onNotify: (m, p) => seen.push(['call', m, p.seq]) });
  ws.reply({ method: 'event', params: { seq: 7 } });
  assert.deepEqual(seen, [['conn', 'event', 7], ['call', 'event', 7]]);
});

test('binary frames go to the stream their call registered, and stop after it ends', async () => {
  const c = await open();
  const ws = FakeSocket.last;
  const got = [];
  const s = c.newStreamId();
  const call = c.call('session.attach', { id: 'abc', stream: s }, {
    onStream: (ch, b) => got.push([ch, new TextDecoder().decode(b)]),
  });
  ws.binary(encodeStreamFrame(s, Channel.STDOUT, new TextEncoder().encode('$ ')));
  ws.binary(encodeStreamFrame(s + 1, Channel.STDOUT, new TextEncoder().encode('other')));
  c.sendStream(s, Channel.STDIN, 'ls\r');
  const sentFrame = decodeStreamFrame(ws.sent[1]);
  assert.equal(sentFrame.stream, s);
  assert.equal(sentFrame.channel, Channel.STDIN);
  assert.equal(new TextDecoder().decode(sentFrame.bytes), 'ls\r');
  ws.reply({ id: ws.json(0).id, result: { detached: true } });
  await call.result;
  ws.binary(encodeStreamFrame(s, Channel.STDOUT, new TextEncoder().encode('late')));
  assert.deepEqual(got, [[1, '$ ']]);
});

test('a dropped connection fails every call in flight as unavailable', async () => {
  const c = await open();
  const ws = FakeSocket.last;
  let closedWith = null;
  c.onClose = (e) => { closedWith = e; };
  const a = c.call('vm.stop', { name: 'a' });
  ws.drop();
  await assert.rejects(a.result, (e) => e.code === 'unavailable');
  assert.equal(closedWith.code, 'unavailable');
  await assert.rejects(c.call('vm.list').result, (e) => e.code === 'unavailable');
});

test('Daemon.open gives a long call its own connection and stream, closed when it ends', async () => {
  FakeSocket.all = [];
  const d = new Daemon('ws://x/ws', { WebSocketImpl: FakeSocket });
  const h = await d.open('vm.logs', { name: 'a', follow: true }, { withStream: true, onStream: () => {} });
  const ws = FakeSocket.last;
  assert.equal(ws.json(0).params.stream, h.stream);
  const short = d.call('vm.list');
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(FakeSocket.all.length, 2, 'short calls use another connection');
  FakeSocket.all[1].reply({ id: FakeSocket.all[1].json(0).id, result: { vms: [] } });
  await short;
  ws.reply({ id: ws.json(0).id, result: { bytes: 0 } });
  await h.result;
  assert.ok(ws.closed);
});

test('store: events before the lists are replayed over them', () => {
  const s = new Store();
  s.beginLoad();
  s.event({ seq: 1, kind: 'vm', action: 'changed', target: 'a', data: { name: 'a', state: 'running' } });
  s.event({ seq: 2, kind: 'vm', action: 'deleted', target: 'b', data: {} });
  s.event({ seq: 3, kind: 'op', action: 'progress', target: 'op1', data: { id: 'op1', target: 'a', state: 'running', fraction: 0.5 } });
  assert.equal(s.vms.size, 0, 'held until the lists arrive');
  s.load({ vms: [{ name: 'a', state: 'starting' }, { name: 'b', state: 'stopped' }],
           ops: [{ id: 'op1', target: 'a', state: 'running', fraction: 0.1 }] });
  assert.equal(s.vms.get('a').state, 'running');
  assert.ok(!s.vms.has('b'));
  assert.equal(s.runningOpFor('a').fraction, 0.5);
  s.event({ seq: 4, kind: 'op', action: 'ended', target: 'op1', data: { id: 'op1', target: 'a', state: 'succeeded', fraction: 1 } });
  assert.equal(s.runningOpFor('a'), null);
  assert.equal(s.seq, 4);
});

test("store: the subscribed event's snapshot is the lists; a plain subscribed event waits for them", () => {
  const s = new Store();
  let changes = 0;
  s.subscribe(() => { changes++; });
  s.beginLoad();
  s.event({ seq: 0, kind: 'meta', action: 'subscribed', target: '', data: {} });
  assert.ok(!s.live, 'no snapshot: still waiting for the lists');
  s.event({ seq: 0, kind: 'meta', action: 'subscribed', target: '',
            data: { vms: [{ name: 'a', state: 'running' }], images: [{ name: 'base', state: 'ready' }],
                    ops: [{ id: 'op1', target: 'a', state: 'running', fraction: 0.2 }], sessions: [] } });
  assert.ok(s.live);
  assert.equal(changes, 1);
  assert.equal(s.vms.get('a').state, 'running');
  assert.equal(s.images.get('base').state, 'ready');
  assert.equal(s.runningOpFor('a').fraction, 0.2);
  s.event({ seq: 1, kind: 'vm', action: 'changed', target: 'a', data: { name: 'a', state: 'stopped' } });
  assert.equal(s.vms.get('a').state, 'stopped');
});

test('store: image events (inspect JSON) and list rows (summaries) become the same row', () => {
  const s = new Store();
  s.beginLoad();
  s.load({ images: [{ name: 'x', state: 'ready', source: 'recipe', flavour: 'debian', bytes: 5, created_ms: 1 }] });
  s.event({ kind: 'image', action: 'changed', target: 'x', data: {
    name: 'x', state: 'ready', created_ms: 1, dir: '/d',
    manifest: { source: { type: 'recipe' }, facts: { flavour: 'debian' }, parts: { kernel: { bytes: 2 }, rootfs: { bytes: 3 } } },
  } });
  assert.deepEqual(s.images.get('x'), imageRow({ name: 'x', state: 'ready', created_ms: 1,
    manifest: { source: { type: 'recipe' }, facts: { flavour: 'debian' }, parts: { a: { bytes: 5 } } } }));
  assert.equal(s.images.get('x').bytes, 5);
});

test('store: the running op of a target; ops sorted running first, newest first', () => {
  const s = new Store();
  s.beginLoad();
  s.load({ ops: [
    { id: '1', target: 'a', state: 'succeeded', started_ms: 30 },
    { id: '2', target: 'b', state: 'running', started_ms: 10 },
    { id: '3', target: 'c', state: 'failed', started_ms: 40 },
  ] });
  assert.deepEqual(s.opsSorted().map((o) => o.id), ['2', '3', '1']);
  assert.equal(s.runningOpFor('b').id, '2');
});

test('store: an overflow (events lost) holds new events and asks for a re-list', () => {
  const s = new Store();
  let resyncs = 0;
  s.onResync = () => { resyncs++; };
  s.beginLoad();
  s.load({ vms: [{ name: 'a', state: 'running' }] });
  s.event({ seq: 0, kind: 'meta', action: 'overflow', target: '', data: { dropped: 3 } });
  assert.equal(resyncs, 1);
  s.event({ seq: 9, kind: 'vm', action: 'created', target: 'c', data: { name: 'c', state: 'creating' } });
  assert.ok(!s.vms.has('c'), 'held until the re-list arrives');
  s.load({ vms: [{ name: 'a', state: 'stopped' }, { name: 'b', state: 'running' }] });
  assert.deepEqual([...s.vms.keys()].sort(), ['a', 'b', 'c']);
});

test("store: a VM event replaces the row, with started_ms, the uptime's origin", () => {
  const s = new Store();
  s.beginLoad();
  s.load({ vms: [{ name: 'a', state: 'running', started_ms: 50 }] });
  s.event({ kind: 'vm', action: 'changed', target: 'a', time_ms: 100, data: { name: 'a', state: 'stopped', started_ms: 0 } });
  assert.equal(s.vms.get('a').started_ms, 0);
  s.event({ kind: 'vm', action: 'changed', target: 'a', time_ms: 200, data: { name: 'a', state: 'running', started_ms: 190 } });
  assert.equal(s.vms.get('a').started_ms, 190);
});
