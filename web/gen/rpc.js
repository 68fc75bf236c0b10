// Generated from warren's dispatch table by tools/rpc_gen.cc: do not edit.
// Refresh: `ninja -C build rpc_docs` (see docs/RPC.md). One function per method;
// `rpc` is any object with call(method, params) -> Promise (the page's WebSocket
// client), whose notifications (op.progress, event, ...) it delivers itself.

/** Every method name the daemon serves. */
export const METHODS = Object.freeze([
  "daemon.health",
  "daemon.ping",
  "daemon.status",
  "dns.list",
  "events.subscribe",
  "image.build",
  "image.cache.list",
  "image.cache.prune",
  "image.inspect",
  "image.list",
  "image.promote",
  "image.register",
  "image.rm",
  "image.snapshot",
  "op.cancel",
  "op.get",
  "op.list",
  "op.wait",
  "rpc.methods",
  "session.attach",
  "session.kill",
  "session.logs",
  "session.ls",
  "session.send",
  "session.start",
  "snapshot.delete",
  "snapshot.inspect",
  "snapshot.list",
  "vm.create",
  "vm.egress",
  "vm.exec",
  "vm.inspect",
  "vm.known_hosts",
  "vm.list",
  "vm.logs",
  "vm.ports",
  "vm.proxy",
  "vm.publish",
  "vm.restart",
  "vm.restore",
  "vm.rm",
  "vm.snapshot",
  "vm.start",
  "vm.stop",
  "vm.unpublish",
  "web.info",
  "web.rotate",
]);

/** The kinds `events.subscribe` accepts. */
export const EVENT_KINDS = Object.freeze(["vm", "op", "image", "session"]);

/**
 * Runs the daemon's own checks (what `warren doctor` shows).
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {checks: [{name, level, found, fix}]}
 */
export function daemonHealth(rpc, params = {}) {
  return rpc.call("daemon.health", params);
}

/**
 * Checks the daemon answers.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {}
 */
export function daemonPing(rpc, params = {}) {
  return rpc.call("daemon.ping", params);
}

/**
 * Describes the running daemon: version, root, counts, network, VM defaults.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {version, pid, started_ms, uptime_ms, root, socket, accelerator, counts, network, memory: {budget_bytes, used_bytes, headroom_bytes, overhead_bytes, vms}, vm_defaults}
 */
export function daemonStatus(rpc, params = {}) {
  return rpc.call("daemon.status", params);
}

/**
 * Lists the VM DNS records and how to point the host's resolver at them.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {enabled, domain, host_listen, mode, records: [{name, fqdn, ipv4}], setup}
 */
export function dnsList(rpc, params = {}) {
  return rpc.call("dns.list", params);
}

/**
 * Streams change events (VMs, ops, images, sessions) until cancelled.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @param {string[]} [params.kinds] only these kinds: vm, op, image, session (absent = all) (<= 16 bytes)
 * @param {boolean} [params.snapshot] the meta/subscribed event carries the current lists (one round trip, nothing missed) (<= 4096 bytes)
 * @returns {Promise<Object>} {} once the client sends $/cancel (or never: it ends with the connection)
 */
export function eventsSubscribe(rpc, params = {}) {
  return rpc.call("events.subscribe", params);
}

/**
 * Starts building an image from a recipe (the default one when none is given), as an op.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the new image's name (<= 4096 bytes)
 * @param {string} [params.recipe] the recipe's TOML text; empty = the built-in default (<= 1048576 bytes)
 * @param {string} [params.recipe_origin] the recipe's file name, for error messages (<= 4096 bytes)
 * @returns {Promise<Object>} {op, name}: follow the op with op.wait
 * @throws already_exists: an image or a build of that name exists
 * @throws failed_precondition: the daemon is shutting down
 */
export function imageBuild(rpc, params = {}) {
  return rpc.call("image.build", params);
}

/**
 * Lists the image build cache entries.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {entries: [{step, key, path, bytes, modified_ms}], total_bytes}
 */
export function imageCacheList(rpc, params = {}) {
  return rpc.call("image.cache.list", params);
}

/**
 * Empties the image build cache.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {freed_bytes}
 * @throws failed_precondition: a build is running
 */
export function imageCachePrune(rpc, params = {}) {
  return rpc.call("image.cache.prune", params);
}

/**
 * Shows one image with its manifest.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the image (<= 4096 bytes)
 * @returns {Promise<Object>} IMAGE {name, created_ms, state, dir, manifest}
 * @throws not_found: no such image
 */
export function imageInspect(rpc, params = {}) {
  return rpc.call("image.inspect", params);
}

/**
 * Lists the images.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {images: [{name, created_ms, state, bytes, source, facts, ...}]}
 */
export function imageList(rpc, params = {}) {
  return rpc.call("image.list", params);
}

/**
 * Turns a stopped VM's disk into a new image.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.vm the VM whose disk becomes the image (<= 4096 bytes)
 * @param {string} params.name the new image's name (<= 4096 bytes)
 * @returns {Promise<Object>} IMAGE {name, created_ms, state, dir, manifest}
 * @throws not_found: no such VM
 * @throws already_exists: an image of that name exists
 * @throws failed_precondition: the VM is not stopped
 * @throws cancelled: the client went away while waiting for the VM or copying
 */
export function imagePromote(rpc, params = {}) {
  return rpc.call("image.promote", params);
}

/**
 * Registers an image from existing kernel/rootfs/initrd files (copied in).
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the new image's name (<= 4096 bytes)
 * @param {string} params.kernel absolute path of the kernel on the daemon's host (<= 4096 bytes)
 * @param {string} params.rootfs absolute path of the root filesystem image (<= 4096 bytes)
 * @param {string} [params.initrd] absolute path of the initrd (<= 4096 bytes)
 * @param {string} [params.cmdline] extra kernel command line (<= 4096 bytes)
 * @param {boolean} [params.cloud_init] the image runs cloud-init (its facts say so; #cloud-config user-data is accepted for its VMs) (<= 4096 bytes)
 * @param {boolean} [params.guest_agent] the image serves warren's guest agent on the virtio-serial port org.warren.agent.0 (docs/SNAPSHOTS.md): its VMs can be cloned (<= 4096 bytes)
 * @returns {Promise<Object>} IMAGE {name, created_ms, state, dir, manifest}
 * @throws already_exists: an image of that name exists
 * @throws not_found: a given file does not exist
 * @throws cancelled: the client went away while copying
 */
export function imageRegister(rpc, params = {}) {
  return rpc.call("image.register", params);
}

/**
 * Deletes an image.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the image (<= 4096 bytes)
 * @param {boolean} [params.force] remove even if VMs were created from it (<= 4096 bytes)
 * @returns {Promise<Object>} {name, removed: true}
 * @throws not_found: no such image
 * @throws failed_precondition: a build of it runs, or VMs use it (without force), or a running VM uses it
 */
export function imageRm(rpc, params = {}) {
  return rpc.call("image.rm", params);
}

/**
 * Starts an op that boots a VM of the image (the [vm] defaults' shape), snapshots it once ready and deletes it: what vm.create's from clones.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the image (<= 4096 bytes)
 * @param {string} [params.snapshot] the snapshot's name (default: the image's) (<= 4096 bytes)
 * @returns {Promise<Object>} {op, name}: follow the op with op.wait; its result is the Snapshot
 * @throws not_found: no such image
 * @throws already_exists: a snapshot of that name exists
 * @throws invalid_argument: a bad snapshot name
 * @throws resource_exhausted: the VM would exceed [vm] memory_budget
 */
export function imageSnapshot(rpc, params = {}) {
  return rpc.call("image.snapshot", params);
}

/**
 * Asks a running operation to stop (it rolls back).
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.id the op's id (<= 4096 bytes)
 * @returns {Promise<Object>} {id, cancel_requested: true}
 * @throws not_found: no such op
 * @throws failed_precondition: the op already ended
 */
export function opCancel(rpc, params = {}) {
  return rpc.call("op.cancel", params);
}

/**
 * Shows one operation.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.id the op's id (<= 4096 bytes)
 * @returns {Promise<Object>} OP {id, kind, target, state, step, fraction, started_ms, ended_ms, error, result}
 * @throws not_found: no such op
 */
export function opGet(rpc, params = {}) {
  return rpc.call("op.get", params);
}

/**
 * Lists operations, running and recent, oldest first.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {ops: [OP]}
 */
export function opList(rpc, params = {}) {
  return rpc.call("op.list", params);
}

/**
 * Follows an operation until it ends.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.id the op's id (<= 4096 bytes)
 * @param {boolean} [params.logs] also send the op's log lines as op.log notifications (<= 4096 bytes)
 * @returns {Promise<Object>} OP (its final state)
 * @throws not_found: no such op
 * @throws cancelled: the client cancelled the wait (the op goes on)
 */
export function opWait(rpc, params = {}) {
  return rpc.call("op.wait", params);
}

/**
 * Describes every method of this table: params, result, errors.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {methods: [{name, mutating, params: [{name, type, required, doc, min, max | max_bytes}], summary, result, errors: [{code, rpc_code, when}], notifications}]}
 */
export function rpcMethods(rpc, params = {}) {
  return rpc.call("rpc.methods", params);
}

/**
 * Attaches to a session: scrollback, then live output; input and resize go to it.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.id the session's id or name (<= 4096 bytes)
 * @param {number} [params.stream] the stream id output is sent on (default 1) (1..4294967295)
 * @param {boolean} [params.scrollback] replay the session's scrollback first (default true) (<= 4096 bytes)
 * @param {number} [params.cols] resize the terminal to this many columns (0..10000)
 * @param {number} [params.rows] resize the terminal to this many rows (0..10000)
 * @returns {Promise<Object>} SESSION plus {detached}
 * @throws not_found: no such session
 */
export function sessionAttach(rpc, params = {}) {
  return rpc.call("session.attach", params);
}

/**
 * Signals a running session (TERM and hang-up by default); forgets an ended one.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.id the session's id or name (<= 4096 bytes)
 * @param {string} [params.signal] signal name, e.g. TERM or SIGKILL (default TERM) (<= 16 bytes)
 * @returns {Promise<Object>} SESSION
 * @throws not_found: no such session
 */
export function sessionKill(rpc, params = {}) {
  return rpc.call("session.kill", params);
}

/**
 * Sends a session's scrollback (and with follow, its live output).
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.id the session's id or name (<= 4096 bytes)
 * @param {number} [params.stream] the stream id output is sent on (default 1) (1..4294967295)
 * @param {boolean} [params.follow] keep sending output until the session ends (<= 4096 bytes)
 * @param {boolean} [params.scrollback] with follow: replay the scrollback first (default true) (<= 4096 bytes)
 * @returns {Promise<Object>} SESSION
 * @throws not_found: no such session
 */
export function sessionLogs(rpc, params = {}) {
  return rpc.call("session.logs", params);
}

/**
 * Lists sessions, of one VM or all.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @param {string} [params.vm] only this VM's sessions (<= 4096 bytes)
 * @returns {Promise<Object>} {sessions: [SESSION]}
 */
export function sessionLs(rpc, params = {}) {
  return rpc.call("session.ls", params);
}

/**
 * Writes input to a session without attaching.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.id the session's id or name (<= 4096 bytes)
 * @param {string} params.text bytes for the session's stdin (<= 1048576 bytes)
 * @returns {Promise<Object>} {id, bytes}
 * @throws not_found: no such session
 * @throws failed_precondition: the session has ended
 */
export function sessionSend(rpc, params = {}) {
  return rpc.call("session.send", params);
}

/**
 * Starts a detached session (a shell or command that outlives the client).
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.vm the VM to run in (<= 4096 bytes)
 * @param {string[]} [params.argv] the command; empty = a shell (needs tty) (<= 131072 bytes)
 * @param {Object<string, string>} [params.env] extra environment variables (<= 131072 bytes)
 * @param {string} [params.workdir] the working directory in the guest (<= 4096 bytes)
 * @param {boolean} [params.tty] run on a pseudo-terminal (<= 4096 bytes)
 * @param {string} [params.term] TERM for the pseudo-terminal (default xterm-256color) (<= 4096 bytes)
 * @param {number} [params.cols] terminal columns (default 80) (1..10000)
 * @param {number} [params.rows] terminal rows (default 24) (1..10000)
 * @param {number} [params.stream] the stream id for stdin/stdout/stderr (default 1) (1..4294967295)
 * @param {boolean} [params.wait] wait for the VM to be reachable instead of failing (<= 4096 bytes)
 * @param {number} [params.wait_timeout_s] how long to wait (default 300) (0..86400)
 * @param {string} [params.name] a name for the session (<= 64 bytes)
 * @returns {Promise<Object>} SESSION {id, name, vm, argv, tty, state, error, started_ms, ended_ms, attached, output_bytes, exit_code}; with follow, as session.attach
 * @throws not_found: no such VM
 * @throws already_exists: a session of that name exists
 * @throws resource_exhausted: max sessions are running
 * @throws unavailable: the guest did not become reachable
 */
export function sessionStart(rpc, params = {}) {
  return rpc.call("session.start", params);
}

/**
 * Deletes a snapshot and its files; refused while a VM's disk is backed by it.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the snapshot (<= 4096 bytes)
 * @returns {Promise<Object>} {name}
 * @throws not_found: no such snapshot
 * @throws failed_precondition: VMs cloned from it, or snapshots of those clones, exist (named)
 */
export function snapshotDelete(rpc, params = {}) {
  return rpc.call("snapshot.delete", params);
}

/**
 * Shows one snapshot.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the snapshot (<= 4096 bytes)
 * @returns {Promise<Object>} Snapshot {name, vm, vm_id, image, cpus, memory_mib, disk_gib, mac, ip, size_bytes, files: {file: bytes}, created_ms, agent: bool (clones can be made), parent}
 * @throws not_found: no such snapshot
 */
export function snapshotInspect(rpc, params = {}) {
  return rpc.call("snapshot.inspect", params);
}

/**
 * Lists the snapshots, oldest first.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {snapshots: [Snapshot {name, vm, vm_id, image, cpus, memory_mib, disk_gib, mac, ip, size_bytes, files: {file: bytes}, created_ms, agent: bool (clones can be made), parent}]}
 */
export function snapshotList(rpc, params = {}) {
  return rpc.call("snapshot.list", params);
}

/**
 * Starts creating a VM (disk, seed, TAP, boot, SSH ready) as an op; defaults from [vm].
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the new VM's name (<= 4096 bytes)
 * @param {string} [params.image] the image to boot; default: the config's vm.default_image (<= 4096 bytes)
 * @param {number} [params.cpus] vCPUs; 0 = the config's default (0..1024)
 * @param {number} [params.memory_mib] memory in MiB; 0 = the config's default (0..16777216)
 * @param {number} [params.disk_gib] disk size in GiB; 0 = the config's default (0..65536)
 * @param {*} [params.caps] capabilities: {name: request}, e.g. {"share": ["/src:/mnt/src:ro"]}; names and request shapes in docs/CAPABILITIES.md (<= 1048576 bytes)
 * @param {string} [params.from] a snapshot to clone: the VM resumes it instead of booting, with its own identity; image, cpus, memory_mib and disk_gib are then the snapshot's (<= 4096 bytes)
 * @returns {Promise<Object>} {op, name}: follow the op with op.wait; its result is the VM
 * @throws already_exists: a VM of that name exists
 * @throws not_found: no such image, or no such snapshot (from)
 * @throws failed_precondition: from: the snapshot's guest has no agent, or a capability needs a boot
 * @throws invalid_argument: from: image, cpus, memory_mib or disk_gib other than the snapshot's
 * @throws resource_exhausted: the subnet has no free address, or the VM would exceed [vm] memory_budget
 */
export function vmCreate(rpc, params = {}) {
  return rpc.call("vm.create", params);
}

/**
 * Sets what a VM may reach outside (nat mode): none, all, or IPv4 ranges; applied at once when it runs.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @param {string} params.spec none, all, or IPv4 ranges like 192.0.2.0/24,10.0.0.0/8 (<= 4096 bytes)
 * @returns {Promise<Object>} {name, egress}
 * @throws not_found: no such VM
 * @throws invalid_argument: a bad spec, or one the network mode cannot enforce
 * @throws cancelled: the client went away while waiting for the VM
 */
export function vmEgress(rpc, params = {}) {
  return rpc.call("vm.egress", params);
}

/**
 * Runs a command in the guest, streaming stdin/stdout/stderr.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.vm the VM to run in (<= 4096 bytes)
 * @param {string[]} [params.argv] the command; empty = a shell (needs tty) (<= 131072 bytes)
 * @param {Object<string, string>} [params.env] extra environment variables (<= 131072 bytes)
 * @param {string} [params.workdir] the working directory in the guest (<= 4096 bytes)
 * @param {boolean} [params.tty] run on a pseudo-terminal (<= 4096 bytes)
 * @param {string} [params.term] TERM for the pseudo-terminal (default xterm-256color) (<= 4096 bytes)
 * @param {number} [params.cols] terminal columns (default 80) (1..10000)
 * @param {number} [params.rows] terminal rows (default 24) (1..10000)
 * @param {number} [params.stream] the stream id for stdin/stdout/stderr (default 1) (1..4294967295)
 * @param {boolean} [params.wait] wait for the VM to be reachable instead of failing (<= 4096 bytes)
 * @param {number} [params.wait_timeout_s] how long to wait (default 300) (0..86400)
 * @returns {Promise<Object>} {exit_code, signaled?}
 * @throws not_found: no such VM
 * @throws failed_precondition: the VM is not running
 * @throws unavailable: the guest did not become reachable
 * @throws cancelled: the client went away (the command is hung up on)
 */
export function vmExec(rpc, params = {}) {
  return rpc.call("vm.exec", params);
}

/**
 * Shows one VM, with its TAP, QEMU pid and console log path.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @returns {Promise<Object>} VM plus {tap, pid, console_log}
 * @throws not_found: no such VM
 */
export function vmInspect(rpc, params = {}) {
  return rpc.call("vm.inspect", params);
}

/**
 * Lists the pinned SSH host key of every running VM.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {hosts: [{vm, host_key}], domain}
 */
export function vmKnownHosts(rpc, params = {}) {
  return rpc.call("vm.known_hosts", params);
}

/**
 * Lists the VMs.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {vms: [VM {id, name, image, cpus, memory_mib, disk_gib, state, step, ip, mac, created_ms, started_ms, error, snapshot?, dns_name?}]}
 */
export function vmList(rpc, params = {}) {
  return rpc.call("vm.list", params);
}

/**
 * Sends the VM's serial console log as stream output; with follow, keeps sending.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @param {number} [params.stream] the stream id the console log is sent on (default 1) (1..4294967295)
 * @param {boolean} [params.follow] keep sending what the guest writes (<= 4096 bytes)
 * @param {number} [params.tail_bytes] start this many bytes before the end; 0 = the start (>= 0)
 * @returns {Promise<Object>} {name, bytes}
 * @throws not_found: no such VM, or it never booted
 */
export function vmLogs(rpc, params = {}) {
  return rpc.call("vm.logs", params);
}

/**
 * Lists a VM's published ports.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @returns {Promise<Object>} {name, ports: [{spec, listening}]}
 * @throws not_found: no such VM
 */
export function vmPorts(rpc, params = {}) {
  return rpc.call("vm.ports", params);
}

/**
 * Relays a guest TCP port over the call's stream (ssh's ProxyCommand); with authorize_key, first authorizes the caller's key for root.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.vm the VM to reach (<= 4096 bytes)
 * @param {number} params.port the guest's TCP port (1..65535)
 * @param {number} [params.stream] the stream id the bytes travel on (default 1) (1..4294967295)
 * @param {string} [params.authorize_key] an OpenSSH public key line to authorize for root in the guest first (<= 16384 bytes)
 * @returns {Promise<Object>} {bytes_in, bytes_out} once the guest closes the connection
 * @throws not_found: no such VM
 * @throws failed_precondition: the VM is not running
 * @throws unavailable: the guest port refused or did not answer
 * @throws invalid_argument: authorize_key is not an OpenSSH public key
 * @throws cancelled: the client went away
 */
export function vmProxy(rpc, params = {}) {
  return rpc.call("vm.proxy", params);
}

/**
 * Publishes a guest port on the host ([HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]); listening at once when the VM runs.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @param {string} params.spec [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp], e.g. 8080:80 (<= 4096 bytes)
 * @returns {Promise<Object>} {name, ports: [{spec, listening}]}
 * @throws not_found: no such VM
 * @throws invalid_argument: a bad spec
 * @throws already_exists: the host port is published by another VM or in use
 * @throws cancelled: the client went away while waiting for the VM
 */
export function vmPublish(rpc, params = {}) {
  return rpc.call("vm.publish", params);
}

/**
 * Stops then starts a VM.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @param {boolean} [params.force] stop: kill without a clean shutdown; rm: remove even if running (<= 4096 bytes)
 * @param {number} [params.timeout_s] how long a clean shutdown may take (default 30) (0..3600)
 * @returns {Promise<Object>} VM
 * @throws not_found: no such VM
 * @throws failed_precondition: its disk is being promoted
 * @throws resource_exhausted: a stopped VM would exceed [vm] memory_budget (a running one keeps its share)
 * @throws cancelled: the client went away while waiting for the VM
 */
export function vmRestart(rpc, params = {}) {
  return rpc.call("vm.restart", params);
}

/**
 * Rolls a VM back to one of its own snapshots (its QEMU is replaced; sessions to the old guest end) and waits for its guest.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @param {string} params.snapshot one of the VM's own snapshots (<= 4096 bytes)
 * @returns {Promise<Object>} VM
 * @throws not_found: no such VM or snapshot
 * @throws failed_precondition: the snapshot is another VM's, or the VM's disk is being promoted
 * @throws cancelled: the client went away while waiting for the VM
 */
export function vmRestore(rpc, params = {}) {
  return rpc.call("vm.restore", params);
}

/**
 * Deletes a VM, its disk and its IP lease.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @param {boolean} [params.force] stop: kill without a clean shutdown; rm: remove even if running (<= 4096 bytes)
 * @param {number} [params.timeout_s] how long a clean shutdown may take (default 30) (0..3600)
 * @returns {Promise<Object>} {name, removed: true}
 * @throws not_found: no such VM
 * @throws failed_precondition: it runs (without force), or its disk is being promoted
 * @throws cancelled: the client went away while waiting for the VM
 */
export function vmRm(rpc, params = {}) {
  return rpc.call("vm.rm", params);
}

/**
 * Starts a snapshot of a running VM (memory, devices and disk at one instant) as an op; the guest resumes afterwards unless stop.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @param {string} [params.snapshot] the snapshot's name (default: VM-YYYYMMDD-HHMMSS, UTC) (<= 4096 bytes)
 * @param {boolean} [params.stop] stop the VM after the snapshot instead of resuming it (<= 4096 bytes)
 * @returns {Promise<Object>} {op, name}: follow the op with op.wait; its result is the Snapshot
 * @throws not_found: no such VM
 * @throws already_exists: a snapshot of that name exists
 * @throws invalid_argument: a bad snapshot name
 * @throws failed_precondition: the VM is not running
 */
export function vmSnapshot(rpc, params = {}) {
  return rpc.call("vm.snapshot", params);
}

/**
 * Boots a stopped VM and waits for its guest.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @returns {Promise<Object>} VM
 * @throws not_found: no such VM
 * @throws failed_precondition: it is already running, or its disk is being promoted
 * @throws resource_exhausted: the VM would exceed [vm] memory_budget
 * @throws unavailable: QEMU exited while the guest booted
 * @throws cancelled: the client went away while waiting for the VM
 */
export function vmStart(rpc, params = {}) {
  return rpc.call("vm.start", params);
}

/**
 * Stops a VM (ACPI shutdown, killed after timeout_s; at once with force).
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @param {boolean} [params.force] stop: kill without a clean shutdown; rm: remove even if running (<= 4096 bytes)
 * @param {number} [params.timeout_s] how long a clean shutdown may take (default 30) (0..3600)
 * @returns {Promise<Object>} VM
 * @throws not_found: no such VM
 * @throws cancelled: the client went away while waiting for the VM
 */
export function vmStop(rpc, params = {}) {
  return rpc.call("vm.stop", params);
}

/**
 * Stops publishing a port; its listener closes at once.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} params
 * @param {string} params.name the VM (<= 4096 bytes)
 * @param {string} params.spec [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp], e.g. 8080:80 (<= 4096 bytes)
 * @returns {Promise<Object>} {name, ports: [{spec, listening}]}
 * @throws not_found: no such VM, or the port is not published
 * @throws invalid_argument: a bad spec
 * @throws cancelled: the client went away while waiting for the VM
 */
export function vmUnpublish(rpc, params = {}) {
  return rpc.call("vm.unpublish", params);
}

/**
 * The web UI's address, with the login token in its URL.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {enabled, url, listen, error?}
 */
export function webInfo(rpc, params = {}) {
  return rpc.call("web.info", params);
}

/**
 * Issues a new login token and ends every web login and WebSocket.
 * Mutating.
 * @param {{call: function(string, Object): Promise<*>}} rpc
 * @param {Object} [params]
 * @returns {Promise<Object>} {url, listen}
 * @throws failed_precondition: the web UI is off
 * @throws internal: the token file cannot be written
 */
export function webRotate(rpc, params = {}) {
  return rpc.call("web.rotate", params);
}
