#!/usr/bin/env bash
# Starts a throwaway `warren daemon` on a temporary --root inside a private
# network namespace (unshare -n), runs rpc_soak against it, stops it.
#   bench/rpc_soak.sh [BUILD_DIR] [CLIENTS] [SECONDS] [VM_WORKERS] [ROUNDS]
# Needs root (the daemon's isolated network mode) and a build with
# -DWARREN_BENCH=ON (or RPC_SOAK=path/to/rpc_soak). With VM_WORKERS > 0 the
# default image is built first (seconds with $WARREN_TEST_CACHE) and that many
# workers create, exec in and remove VMs through the CLI during the run.
set -euo pipefail
build=${1:-build}
clients=${2:-1000}
seconds=${3:-30}
vm_workers=${4:-0}
rounds=${5:-1}
root=$(mktemp -d /tmp/warren-soak-XXXXXX)
pid=""
cleanup() {
  for n in $(seq 0 $(( ${vm_workers:-0} - 1 ))); do
    "$build/src/cli/warren" --root "$root" vm rm "soak$n" --force >/dev/null 2>&1 || true
  done
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -rf "$root"
}
trap cleanup EXIT
cat >"$root/config.toml" <<CONF
[rpc]
max_connections = 4096
[network]
namespace = "wsoak$$"
tap_pool_size = 0
[dns]
enabled = false
CONF
if [ -n "${WARREN_TEST_CACHE:-}" ]; then
  printf '[images]\ncache_dir = "%s"\n' "$(realpath "$WARREN_TEST_CACHE")" >>"$root/config.toml"
fi
# unshare execs the daemon, so $! is the daemon's pid.
unshare -n -- "$build/src/cli/warren" --root "$root" daemon >"$root/daemon.out" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$root/run/warren.sock" ] && break; sleep 0.1; done
[ -S "$root/run/warren.sock" ] || { cat "$root/daemon.out"; exit 1; }
warren=$(realpath "$build/src/cli/warren")
if [ "$vm_workers" -gt 0 ]; then
  "$warren" --root "$root" image build default >/dev/null
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"${RPC_SOAK:-$build/bench/rpc_soak}" --socket "$root/run/warren.sock" --pid "$pid" --clients "$clients" \
  --seconds "$seconds" --vm-workers "$vm_workers" --warren "$warren" --root "$root" --rounds "$rounds"
