#!/usr/bin/env bash
# Start from a snapshot against a cold boot, side by side, interleaved, in one
# run (issue 13's bench). Needs root, QEMU and the default image (built on
# first use; $WARREN_TEST_CACHE speeds that up).
#
#   bench/snapshot_bench.sh WARREN_BINARY [ROUNDS=5]
#
# One VM `snap` (a shell and a sleep running) is snapshotted once. Each round:
#   cold:    `warren vm create coldN` (returns at SSH-ready) + `exec -- true`
#   restore: `warren vm restore snap SNAP` (new QEMU, state loaded, resumed,
#            clock stepped through the agent, SSH answering) + `exec -- true`
# Wall clock of each CLI call. Then the host memory (PSS) of the restored
# QEMU against a cold-booted one, from /proc/PID/smaps (bench/qemu_pss.py).
# `vm create --from SNAP` (clones) is not built yet: a restore runs the same
# incoming-migration path a clone will, on the VM's own disk and identity.
set -euo pipefail
warren=${1:?usage: snapshot_bench.sh WARREN_BINARY [ROUNDS]}
rounds=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/daemon.sh"
# Every VM goes before the daemon (a daemon that stops leaves running VMs to adopt).
bench_cleanup_extra() {
  local v
  for v in snap $(seq -f 'cold%g' 1 "$rounds"); do "${W[@]}" vm rm "$v" --force >/dev/null 2>&1 || true; done
}
bench_daemon "$warren" snapshot

ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
qemu_pid() { pgrep -f -- "-name guest=$1 .*$root/" | head -1; }
pss_mib() { awk '/^Pss:/ {s += $2} END {printf "%.1f", s / 1024}' "/proc/$1/smaps"; }

"${W[@]}" vm create snap >/dev/null
"${W[@]}" exec snap -- sh -c 'sleep 100000 >/dev/null 2>&1 &'
"${W[@]}" vm snapshot snap s1 >/dev/null
printf '%-6s %12s %12s %14s %14s\n' round cold_ms cold_exec_ms restore_ms restore_exec_ms
cold=() restore=()
for r in $(seq "$rounds"); do
  c=$(ms "${W[@]}" vm create "cold$r")
  ce=$(ms "${W[@]}" exec "cold$r" -- true)
  [ "$r" -lt "$rounds" ] && "${W[@]}" vm rm "cold$r" --force >/dev/null
  s=$(ms "${W[@]}" vm restore snap s1)
  se=$(ms "${W[@]}" exec snap -- true)
  printf '%-6s %12s %12s %14s %14s\n' "$r" "$c" "$ce" "$s" "$se"
  cold+=("$c") restore+=("$s")
done
cm=$(printf '%s\n' "${cold[@]}" | median)
rm_=$(printf '%s\n' "${restore[@]}" | median)
echo "median: cold create ${cm} ms, restore ${rm_} ms, ratio $(awk -v a="$rm_" -v b="$cm" 'BEGIN {printf "%.2f", a / b}')"
"${W[@]}" exec snap -- sh -c 'cat /proc/[0-9]*/cmdline | tr "\0" " " | grep -q "sleep 100000"' &&
  echo "the snapshot's sleep runs in the restored guest"
sleep 5  # both guests idle a moment
pc=$(qemu_pid "cold$rounds") ps=$(qemu_pid snap)
echo "host memory: cold-booted QEMU PSS $(pss_mib "$pc") MiB, restored QEMU PSS $(pss_mib "$ps") MiB"
