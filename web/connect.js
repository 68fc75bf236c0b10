// Loaded first and async (index.html): starts the event stream's WebSocket
// handshake while the page's modules are still loading. app.js adopts the
// socket for its first events.subscribe (rpc.js Connection, `socket`); the
// daemon sends nothing until asked, so nothing is missed before then.
globalThis.warrenEarlySocket = new WebSocket(
  `${window.location.protocol === 'https:' ? 'wss:' : 'ws:'}//${window.location.host}/ws`);
globalThis.warrenEarlySocket.binaryType = 'arraybuffer';
