#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs warren's main job:
# builds warren, starts the daemon under a temporary root, shows `warren status`
# and `warren doctor`, builds the default image, creates a VM, runs a command in
# it, and removes it again. Every bridge, TAP and guest lives in the network
# namespace the daemon creates (isolated mode).
# Usage: sudo bash scripts/quickstart.sh        (WARREN_KEEP=1 leaves the daemon running)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARREN_TESTS=OFF -DWARREN_BENCH=OFF >/dev/null
cmake --build build-release -j"$(nproc)" --target warren
warren=$PWD/build-release/src/cli/warren

made_root=0
if [ -z "${WARREN_ROOT:-}" ]; then WARREN_ROOT=$(mktemp -d /tmp/warren-root.XXXXXX); made_root=1; fi
export WARREN_ROOT
echo "warren root: $WARREN_ROOT"
"$warren" daemon >"$WARREN_ROOT/daemon.out" 2>&1 &
daemon_pid=$!
stop_daemon() {
  "$warren" vm rm --force demo >/dev/null 2>&1 || true
  kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" || true
  if [ "$made_root" = 1 ]; then rm -rf "$WARREN_ROOT"; fi
}
if [ "${WARREN_KEEP:-0}" != 1 ]; then trap stop_daemon EXIT; fi
for _ in $(seq 100); do
  [ -S "$WARREN_ROOT/run/warren.sock" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$WARREN_ROOT/daemon.out"; exit 1; }
  sleep 0.1
done

set -x
"$warren" status
"$warren" doctor || true   # WARN/FAIL lines explain themselves; continue either way
"$warren" image build default
"$warren" image ls
"$warren" vm create demo
"$warren" exec demo -- uname -a
"$warren" vm ls
"$warren" dns ls
"$warren" doctor
