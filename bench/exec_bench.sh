#!/usr/bin/env bash
# `warren exec` against the OpenSSH client: round-trip latency of `true` and
# throughput both ways, same guest, same key, one machine. Needs root, QEMU and
# the default image (built on first use; $WARREN_TEST_CACHE speeds that up).
#
#   bench/exec_bench.sh WARREN_BINARY [RUNS=50] [MIB=64]
#
# Starts a daemon under a temp root (its own network namespace), creates one
# VM, then measures:
#   - `warren exec VM -- true`: CLI start + RPC + a channel on the daemon's warm
#     connection to the guest;
#   - `ssh ... true` (OpenSSH, in the daemon's namespace): a full handshake per run;
#   - `ssh` over a ControlMaster connection (warm, like warren's);
#   - MIB MiB from the host into `cat > /dev/null` and out of `head -c`.
# Prints medians. Everything is removed at the end.
set -euo pipefail

warren=${1:?usage: exec_bench.sh WARREN_BINARY [RUNS] [MIB]}
runs=${2:-50}
mib=${3:-64}
root=$(mktemp -d /tmp/warren-exec-bench-XXXXXX)
W=("$warren" --root "$root")
cleanup() {
  "${W[@]}" vm rm bench --force >/dev/null 2>&1 || true
  [ -n "${master:-}" ] && ip netns exec "$ns" ssh "${ssh_opts[@]}" -O exit "root@$ip" 2>/dev/null || true
  [ -n "${daemon_pid:-}" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  rm -rf "$root"
}
trap cleanup EXIT

if [ -n "${WARREN_TEST_CACHE:-}" ]; then
  printf '[images]\ncache_dir = "%s"\n' "$(realpath "$WARREN_TEST_CACHE")" > "$root/config.toml"
fi
"${W[@]}" daemon 2>"$root/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$root/run/warren.sock" ] && break; sleep 0.1; done
"${W[@]}" vm create bench >/dev/null
ip=$("${W[@]}" --json vm inspect bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip"])')
ns=$("${W[@]}" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["namespace"])')
key="$root/state/ssh/id_ed25519"
echo "bench $(cat "$root/vms/bench/host_key.pub")" > "$root/known_hosts"
ssh_opts=(-i "$key" -o UserKnownHostsFile="$root/known_hosts" -o StrictHostKeyChecking=yes
          -o BatchMode=yes -o HostKeyAlias=bench -o ControlPath="$root/cm")

median_ms() {  # command...: runs it $runs times, prints the median wall time in ms
  local t=()
  for _ in $(seq "$runs"); do
    local s e
    s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N)
    t+=($(( (e - s) / 1000 )))
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'
}

"${W[@]}" exec bench -- true  # warm the daemon's connection
echo "exec true, median of $runs (ms):"
echo "  warren exec (warm connection):   $(median_ms "${W[@]}" exec bench -- true)"
echo "  ssh (new connection each time):  $(median_ms ip netns exec "$ns" ssh "${ssh_opts[@]}" "root@$ip" true)"
ip netns exec "$ns" ssh "${ssh_opts[@]}" -o ControlMaster=yes -o ControlPersist=600 -fN "root@$ip"
master=1
echo "  ssh (ControlMaster, warm):       $(median_ms ip netns exec "$ns" ssh "${ssh_opts[@]}" "root@$ip" true)"

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
