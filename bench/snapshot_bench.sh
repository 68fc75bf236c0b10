#!/usr/bin/env bash
# Start from a snapshot against a cold boot, side by side, interleaved, in one
# run (issue 13's bench). Needs root, QEMU and the default image (built on
# first use; $WARREN_TEST_CACHE speeds that up).
#
#   bench/snapshot_bench.sh WARREN_BINARY [ROUNDS=5] [CLONES=10]
#
# One VM `snap` (a shell and a sleep running) is snapshotted once. Each round:
#   cold:    `warren vm create coldN` (returns at SSH-ready) + `exec -- true`
#   clone:   `warren vm create cloneN --from s1` (resumed, re-identified, SSH
#            answering with its own pinned key) + `exec -- true`
#   restore: `warren vm restore snap s1` + `exec -- true`
# Wall clock of each CLI call. Then CLONES clones created at once (all ready:
# the wall clock until the last `vm create` returns), where one clone's time
# goes step by step (its op's progress events), and the host memory (PSS) of
# a fresh clone against a cold-booted VM's, from /proc/PID/smaps.
set -euo pipefail
warren=${1:?usage: snapshot_bench.sh WARREN_BINARY [ROUNDS] [CLONES]}
rounds=${2:-5}
clones=${3:-10}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/daemon.sh"
# Every VM goes before the daemon (a daemon that stops leaves running VMs to adopt).
bench_cleanup_extra() {
  [ -n "${events_pid:-}" ] && kill "$events_pid" 2>/dev/null || true
  "${W[@]}" --json vm ls 2>/dev/null | python3 -c '
import json, sys
for vm in json.load(sys.stdin)["vms"]: print(vm["name"])' | while read -r v; do
    "${W[@]}" vm rm "$v" --force >/dev/null 2>&1 || true
  done
}
bench_daemon "$warren" snapshot

ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
qemu_pid() { pgrep -f -- "-name guest=$1 .*$root/" | head -1; }
pss_mib() { awk '/^Pss:/ {s += $2} END {printf "%.1f", s / 1024}' "/proc/$1/smaps"; }
# user + system CPU time of a process so far, in ms.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

"${W[@]}" vm create snap >/dev/null
"${W[@]}" exec snap -- sh -c 'sleep 100000 >/dev/null 2>&1 &'
"${W[@]}" vm snapshot snap s1 >/dev/null
printf '%-6s %9s %9s %10s %10s %11s %11s\n' round cold_ms +exec_ms clone_ms +exec_ms restore_ms +exec_ms
cold=() clone=() restore=()
for r in $(seq "$rounds"); do
  c=$(ms "${W[@]}" vm create "cold$r")
  ce=$(ms "${W[@]}" exec "cold$r" -- true)
  [ "$r" -lt "$rounds" ] && "${W[@]}" vm rm "cold$r" --force >/dev/null
  k=$(ms "${W[@]}" vm create "clone$r" --from s1)
  ke=$(ms "${W[@]}" exec "clone$r" -- true)
  [ "$r" -lt "$rounds" ] && "${W[@]}" vm rm "clone$r" --force >/dev/null
  s=$(ms "${W[@]}" vm restore snap s1)
  se=$(ms "${W[@]}" exec snap -- true)
  printf '%-6s %9s %9s %10s %10s %11s %11s\n' "$r" "$c" "$ce" "$k" "$ke" "$s" "$se"
  cold+=("$c") clone+=("$k") restore+=("$s")
done
cm=$(printf '%s\n' "${cold[@]}" | median)
km=$(printf '%s\n' "${clone[@]}" | median)
rm_=$(printf '%s\n' "${restore[@]}" | median)
echo "median: cold create ${cm} ms, clone ${km} ms ($(ratio "$km" "$cm")x), restore ${rm_} ms ($(ratio "$rm_" "$cm")x)"
"${W[@]}" exec "clone$rounds" -- sh -c 'cat /proc/[0-9]*/cmdline | tr "\0" " " | grep -q "sleep 100000"' &&
  echo "the snapshot's sleep runs in the clone"

# Host memory: a fresh clone against the cold-booted VM, both idle a moment.
sleep 5
pc=$(qemu_pid "cold$rounds") pk=$(qemu_pid "clone$rounds")
cp=$(pss_mib "$pc") kp=$(pss_mib "$pk")
echo "host memory (PSS): cold-booted QEMU $cp MiB, clone's QEMU $kp MiB ($(ratio "$kp" "$cp")x)"
"${W[@]}" vm rm "cold$rounds" --force >/dev/null
"${W[@]}" vm rm "clone$rounds" --force >/dev/null

# Where one clone's time goes: its op's progress events, step to step.
"${W[@]}" --json events >"$root/events.jsonl" 2>/dev/null &
events_pid=$!
sleep 0.5
"${W[@]}" vm create steps --from s1 >/dev/null
sleep 0.3
kill "$events_pid" 2>/dev/null || true
wait "$events_pid" 2>/dev/null || true
events_pid=
echo "one clone, step by step (op progress events; each step lasts until the next):"
python3 "$here/lib/op_steps.py" "$root/events.jsonl"
"${W[@]}" vm rm steps --force >/dev/null

# CLONES at once: all ready (each `vm create` returns at SSH-ready), with
# every clone's op progress recorded to show where the time goes under load.
"${W[@]}" --json events >"$root/many.jsonl" 2>/dev/null &
events_pid=$!
sleep 0.5
daemon_cpu0=$(cpu_ms "$daemon_pid")
t0=$(date +%s%N)
pids=()
for i in $(seq "$clones"); do
  "${W[@]}" vm create "many$i" --from s1 >/dev/null 2>&1 &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
t1=$(date +%s%N)
daemon_cpu1=$(cpu_ms "$daemon_pid")
qemu_cpu=$(for i in $(seq "$clones"); do cpu_ms "$(qemu_pid "many$i")"; done | median)
sleep 0.3
kill "$events_pid" 2>/dev/null || true
wait "$events_pid" 2>/dev/null || true
events_pid=
ok=0
for i in $(seq "$clones"); do "${W[@]}" exec "many$i" -- true && ok=$((ok + 1)); done
echo "$clones clones at once: all ready in $(( (t1 - t0) / 1000000 )) ms; $failed failed; $ok answer exec"
echo "CPU while they were made: each clone's QEMU ${qemu_cpu} ms (median), the daemon $((daemon_cpu1 - daemon_cpu0)) ms in all"
echo "the $clones clones' steps (ms; median / max over the clones; each step lasts until the next):"
python3 "$here/lib/op_steps.py" "$root/many.jsonl" "$((t0 / 1000000))"
sleep 5
total=0
for i in $(seq "$clones"); do total=$(awk -v a="$total" -v b="$(pss_mib "$(qemu_pid "many$i")")" 'BEGIN {print a + b}'); done
echo "host memory (PSS) of the $clones clones: $total MiB, $(awk -v t="$total" -v n="$clones" 'BEGIN {printf "%.1f", t / n}') MiB each"
