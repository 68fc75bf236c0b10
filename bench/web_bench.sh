#!/usr/bin/env bash
# The web UI's numbers (docs/BENCHMARKS.md, "Web UI"). Needs root, QEMU,
# node, Debian's chromium and the default image ($WARREN_TEST_CACHE helps).
#
#   bench/web_bench.sh WARREN_BINARY WEB_FAKE_DAEMON [KEYS=60]
#
# 1. web_fake_daemon (the real daemon on fakes) loaded with 100 VMs and 20
#    running ops: dashboard first paint and full data (browser performance
#    API, median of 9 loads) and the daemon's RSS with 20 dashboards open.
# 2. A real daemon and guest: keystroke → echo in the browser terminal
#    (measured in the page) against `warren shell` in a PTY (measured by the
#    process that owns the PTY), interleaved; the real daemon's RSS with 20
#    dashboards open vs none; then the keystrokes again with Chromium's
#    DeferRendererTasksAfterInput off (its hold of the echo until its next
#    frame after a key press), a diagnostic of the path below the browser.
# With WARREN_BENCH_FIREFOX=1 (firefox-esr installed), step 1's dashboard
# loads are measured in Firefox too (puppeteer-core over WebDriver BiDi).
# Everything is removed at the end.
set -euo pipefail

warren=${1:?usage: web_bench.sh WARREN_BINARY WEB_FAKE_DAEMON [KEYS]}
fake=${2:?usage: web_bench.sh WARREN_BINARY WEB_FAKE_DAEMON [KEYS]}
keys=${3:-60}
here=$(cd "$(dirname "$0")" && pwd)
firefox=${WARREN_BENCH_FIREFOX:+firefox}
driver=$("$here/../tests/web/install-driver.sh" $firefox)
fake_root=$(mktemp -d /tmp/warren-web-bench-fake-XXXXXX)
root=$(mktemp -d /tmp/warren-web-bench-XXXXXX)
W=("$warren" --root "$root")
cleanup() {
  [ -n "${fake_pid:-}" ] && { exec 3>&- || true; kill "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; }
  "${W[@]}" vm rm bench --force >/dev/null 2>&1 || true
  [ -n "${daemon_pid:-}" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  rm -rf "$fake_root" "$root"
}
trap cleanup EXIT
url_of() { "$warren" --root "$1" --json web | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])'; }

# ---- 1. 100 VMs, 20 running ops (fakes underneath) ----
mkfifo "$fake_root/stdin"
"$fake" "$fake_root" 100 20 <"$fake_root/stdin" >"$fake_root/out" 2>"$fake_root/err" &
fake_pid=$!
exec 3>"$fake_root/stdin"  # held open: the fake daemon serves until it closes
for _ in $(seq 600); do grep -q ready "$fake_root/out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$fake_root/out" || { cat "$fake_root/err"; exit 1; }
echo "== dashboard: 100 VMs, 20 running ops (web_fake_daemon) =="
node "$here/web_bench.mjs" --driver "$driver" --url "$(url_of "$fake_root")" --pid "$fake_pid"
if [ -n "$firefox" ]; then
  echo "== the same dashboard in Firefox (firefox-esr) =="
  node "$here/web_bench.mjs" --driver "$driver" --url "$(url_of "$fake_root")" --browser firefox
fi
exec 3>&-
wait "$fake_pid" || true
fake_pid=

# ---- 2. a real daemon and guest ----
{
  printf '[web]\nlisten = "127.0.0.1:0"\n'
  [ -n "${WARREN_TEST_CACHE:-}" ] && printf '[images]\ncache_dir = "%s"\n' "$(realpath "$WARREN_TEST_CACHE")"
} > "$root/config.toml"
"${W[@]}" daemon 2>"$root/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$root/run/warren.sock" ] && break; sleep 0.1; done
"${W[@]}" vm create bench >/dev/null
echo "== terminal keystroke → echo, and RSS (real daemon, one guest) =="
node "$here/web_bench.mjs" --driver "$driver" --url "$(url_of "$root")" --pid "$daemon_pid" \
  --vm bench --keys "$keys" --loads 3
echo "== the same keystrokes with Chromium's input deferral off (diagnostic: the network path alone) =="
node "$here/web_bench.mjs" --driver "$driver" --url "$(url_of "$root")" \
  --vm bench --keys "$keys" --loads 1 --dashboards 0 --no-input-deferral
echo "== warren shell keystroke → echo (PTY, same guest) =="
python3 - "$warren" "$root" "$keys" <<'EOF'
import os, pty, re, select, statistics, sys, time
warren, root, keys = sys.argv[1], sys.argv[2], int(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.execv(warren, [warren, "--root", root, "shell", "bench"])
def read_until(pred, timeout):
    buf, end = b"", time.monotonic() + timeout
    while not pred(buf):
        left = end - time.monotonic()
        if left <= 0: raise SystemExit("warren shell: no echo/prompt in time: %r" % buf[-200:])
        if select.select([fd], [], [], left)[0]: buf += os.read(fd, 4096)
    return buf
read_until(lambda b: re.search(rb"[$#] ?$", b), 120)
samples = []
for _ in range(keys):
    t = time.perf_counter()
    os.write(fd, b"x")
    read_until(lambda b: b"x" in b, 10)
    samples.append((time.perf_counter() - t) * 1000)
    time.sleep(0.03)
os.write(fd, b"\x15exit\r")
samples.sort()
print('{"warren_shell": {"keys": %d, "echo_ms_median": %.2f, "echo_ms_p90": %.2f}}'
      % (len(samples), statistics.median(samples), samples[int(len(samples) * 0.9)]))
try:
    os.kill(pid, 9)
except ProcessLookupError:
    pass
os.waitpid(pid, 0)
EOF
