#!/usr/bin/env bash
# `warren exec` against the OpenSSH client: round-trip latency of `true` and
# throughput both ways, same guest, same key, one machine. Needs root, QEMU and
# the default image (built on first use; $WARREN_TEST_CACHE speeds that up).
#
#   bench/exec_bench.sh WARREN_BINARY [RUNS=50] [MIB=64]
#
# Starts a daemon under a temp root (its own network namespace), creates one
# VM, then measures, every client started inside the daemon's namespace:
#   - `warren exec VM -- true` (CLI start + RPC + the standby channel of a
#     pooled, authenticated connection: docs/SESSIONS.md) and `ssh` over a warm
#     ControlMaster to the same guest (running `true`, and warren's own command
#     line), interleaved run by run: median and p10-p90 of each, and the ratios;
#   - `warren exec` back to back, without the ssh runs between;
#   - `ssh ... true` with a full handshake per run (a fifth as many runs);
#   - the dynamic loader's startup cycles of each client;
#   - MIB MiB from the host into `cat > /dev/null` and out of `head -c`.
# Everything is removed at the end.
set -euo pipefail

warren=${1:?usage: exec_bench.sh WARREN_BINARY [RUNS] [MIB]}
runs=${2:-50}
mib=${3:-64}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/daemon.sh"
bench_cleanup_extra() {
  [ -n "${master:-}" ] && ip netns exec "$ns" ssh "${ssh_opts[@]}" -O exit "root@$ip" 2>/dev/null || true
}
bench_daemon "$warren" exec
"${W[@]}" vm create bench >/dev/null
ip=$("${W[@]}" --json vm inspect bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip"])')
ns=$("${W[@]}" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["namespace"])')
key="$root/state/ssh/id_ed25519"
echo "bench $(cat "$root/vms/bench/host_key.pub")" > "$root/known_hosts"
ssh_opts=(-i "$key" -o UserKnownHostsFile="$root/known_hosts" -o StrictHostKeyChecking=yes
          -o BatchMode=yes -o HostKeyAlias=bench -o ControlPath="$root/cm")

now_us() { echo $(( $(date +%s%N) / 1000 )); }
# Prints "median p10-p90" in ms of the microsecond samples given.
stats() {
  printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {
    printf "median %.1f ms (p10 %.1f, p90 %.1f)", a[int((NR+1)/2)]/1000, a[int(NR*0.1)+1]/1000,
           a[int(NR*0.9)]/1000 }'
}
time_us() {  # command...: wall time of one run, microseconds
  local s; s=$(now_us); "$@" >/dev/null; echo $(( $(now_us) - s ))
}

# Both sides start from a process in the daemon's namespace (`ip netns exec`),
# so the namespace switch costs both the same.
in_ns=(ip netns exec "$ns")
ssh_cm=("${in_ns[@]}" ssh "${ssh_opts[@]}" "root@$ip" true)
warren_exec=("${in_ns[@]}" "${W[@]}" exec bench -- true)
ip netns exec "$ns" ssh "${ssh_opts[@]}" -o ControlMaster=yes -o ControlPersist=600 -fN "root@$ip"
master=1
"${warren_exec[@]}"; "${ssh_cm[@]}"  # warm both: the daemon's pool, the master
# `ssh host true` lets the guest's /bin/sh (dash) run its builtin `true`;
# warren runs argv as a program (`exec 'true'`, /usr/bin/true), which costs the
# guest an exec of a dynamically linked binary (~55 ms under TCG). The same
# command line over the ControlMaster is the like-for-like reference.
ssh_same=("${in_ns[@]}" ssh "${ssh_opts[@]}" "root@$ip" "exec 'true'")
w=(); c=(); x=()
for _ in $(seq "$runs"); do  # interleaved: w, c, x, w, c, x, ...
  w+=("$(time_us "${warren_exec[@]}")")
  c+=("$(time_us "${ssh_cm[@]}")")
  x+=("$(time_us "${ssh_same[@]}")")
done
echo "exec true, $runs runs interleaved, same guest:"
echo "  warren exec (pooled connection):   $(stats "${w[@]}")"
echo "  ssh over a warm ControlMaster:     $(stats "${c[@]}")"
echo "  same, warren's command line:       $(stats "${x[@]}")"
printf '  ratio warren / ControlMaster running exec true (medians): '
paste <(printf '%s\n' "${w[@]}" | sort -n) <(printf '%s\n' "${x[@]}" | sort -n) |
  awk '{a[NR]=$1; b[NR]=$2} END {m=int((NR+1)/2); printf "%.2f\n", a[m]/b[m]}'
# The interleaved runs leave each pooled link idle while the two ssh calls
# run, time for it to start its standby shell for the next command. Back to
# back, a command may find the standby still starting (it then waits for the
# rest of that start, as an exec request would).
b=(); for _ in $(seq "$runs"); do b+=("$(time_us "${warren_exec[@]}")"); done
echo "  warren exec, back to back:         $(stats "${b[@]}")"
n=(); for _ in $(seq $(( (runs + 4) / 5 ))); do n+=("$(time_us "${in_ns[@]}" ssh -o ControlPath=none "${ssh_opts[@]}" "root@$ip" true)"); done
echo "  ssh, new connection each time:     $(stats "${n[@]}")"
printf '  ratio warren / ControlMaster (medians): '
paste <(printf '%s\n' "${w[@]}" | sort -n) <(printf '%s\n' "${c[@]}" | sort -n) |
  awk '{a[NR]=$1; b[NR]=$2} END {m=int((NR+1)/2); printf "%.2f\n", a[m]/b[m]}'
# Where the time of one CLI goes before it talks to the daemon: the dynamic
# loader's own statistics (cycles), warren vs ssh.
loader_cycles() { LD_DEBUG=statistics "$@" 2>&1 >/dev/null | awk '/total startup time/ {print $(NF-1); exit}'; }
echo "  dynamic loader, cycles: warren $(loader_cycles "${W[@]}" --help), ssh $(loader_cycles ssh -V)"

throughput() {  # label, command...: MiB/s for $mib MiB
  local s e
  s=$(date +%s%N); "${@:2}"; e=$(date +%s%N)
  awk -v m="$mib" -v ns=$((e - s)) -v l="$1" 'BEGIN {printf "  %-32s %.1f MiB/s\n", l, m / (ns / 1e9)}'
}
echo "throughput, $mib MiB:"
throughput "warren exec, host -> guest:" sh -c "head -c ${mib}M /dev/zero | ${W[*]} exec bench -- sh -c 'cat > /dev/null'"
throughput "warren exec, guest -> host:" sh -c "${W[*]} exec bench -- head -c ${mib}M /dev/zero > /dev/null"
throughput "ssh, host -> guest:" sh -c "head -c ${mib}M /dev/zero | ip netns exec $ns ssh ${ssh_opts[*]} root@$ip 'cat > /dev/null'"
throughput "ssh, guest -> host:" sh -c "ip netns exec $ns ssh ${ssh_opts[*]} root@$ip head -c ${mib}M /dev/zero > /dev/null"
