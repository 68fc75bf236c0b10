#!/usr/bin/env bash
# Density: how many idle VMs one host holds and what each one costs as their
# number grows (issue 16). Needs root, QEMU and the default image (built on
# first use; $WARREN_TEST_CACHE speeds that up).
#
#   bench/density.sh WARREN_BINARY [N=100] [MEMORY_MIB=512] [TB_MIB=32]
#
# Starts an isolated-mode daemon under a temp root (its own network
# namespace), then ramps idle VMs d1..dN, up to 10 creates at a time. At
# n = 1, 10, 25, 50, 100 and N (those <= N; $DENSITY_MILESTONES overrides the
# list) the n-th VM is created alone and timed
# (create -> ready: SSH answers), then it records:
#   - PSS per VM: the sum of every QEMU's PSS (/proc/PID/smaps_rollup) / n;
#     shared pages (QEMU's binary and libraries, the image's kernel mapped by
#     every QEMU) are split between the VMs that map them, as PSS does;
#   - the daemon's RSS, threads and open fds;
#   - `vm ls` server time: the mean of 20 calls, from the daemon's own RPC
#     duration histogram (/metrics), so the CLI's start is not in it;
#   - an `exec true` round trip into d1 (median of 5, whole CLI process);
#   - the n-th VM resolving d1 by name (`getent hosts d1`), OK or FAIL.
# DENSITY_KSM=1 adds the KSM lever's before/after at the end (see there).
# DENSITY_OVERCOMMIT=R sets [vm] memory_overcommit (100 VMs of 512 MiB need ~3).
# DENSITY_CLONES=1 makes every VM a clone of one snapshot of the default image
# (`image snapshot default`, then `vm create dN --from default`): the snapshot
# clones' shared pages lever (docs/SNAPSHOTS.md).
# TB_MIB is written as [vm] tcg_tb_mib (0 = QEMU's own default, 1 GiB), so a
# run with 0 is the "before" of that lever. It prints a markdown table the docs
# take as is. Every VM, the daemon and the temp root are removed at the end.
#
# Safety: the ramp never goes past what MemAvailable allows. Before each batch
# it needs (VMs still to create in the batch) x (the worst PSS per VM seen so
# far x 1.5, at least 192 MiB) + a 4 GiB reserve to be available, and stops
# the ramp (saying so) otherwise.
set -euo pipefail

warren=${1:?usage: density.sh WARREN_BINARY [N] [MEMORY_MIB] [TB_MIB]}
n_max=${2:-100}
mem=${3:-512}
tb=${4:-32}
reserve_kib=$((4 << 20))
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/daemon.sh"

created=0
bench_cleanup_extra() {
  # Parallel deletes, at most 10 at a time: 100 sequential force-removes are
  # slow. Waits name their pids: a bare `wait` would also wait for the daemon.
  local i pids=()
  for i in $(seq "$created"); do
    "${W[@]}" vm rm "d$i" --force >/dev/null 2>&1 & pids+=($!)
    if (( ${#pids[@]} == 10 )); then wait "${pids[@]}" || true; pids=(); fi
  done
  (( ${#pids[@]} == 0 )) || wait "${pids[@]}" || true
}
# bench_daemon (lib/daemon.sh) with this bench's own config.toml.
bench_daemon_with_config() {
  root=$(mktemp -d "/tmp/warren-density-bench-XXXXXX")
  W=("$warren" --root "$root")
  trap bench_cleanup EXIT
  cp "$1" "$root/config.toml"
  "${W[@]}" daemon 2>"$root/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 100); do [ -S "$root/run/warren.sock" ] && break; sleep 0.1; done
  [ -S "$root/run/warren.sock" ] || { echo "the daemon did not start:" >&2; cat "$root/daemon.log" >&2; exit 1; }
}
cfg=$(mktemp /tmp/warren-density-config-XXXXXX)
{
  [ -n "${WARREN_TEST_CACHE:-}" ] &&
    printf '[images]\ncache_dir = "%s"\n' "$(realpath "$WARREN_TEST_CACHE")"
  printf '[vm]\ntcg_tb_mib = %d\n' "$tb"
  # The "auto" budget admits (MemTotal - 1 GiB) x overcommit of --memory +
  # overhead: at 1.0 (the default) this 24 GiB host admits 36 VMs of 512 MiB.
  [ -n "${DENSITY_OVERCOMMIT:-}" ] && printf 'memory_overcommit = %s\n' "$DENSITY_OVERCOMMIT"
  printf '[dns]\nhost_listen = "127.0.0.1:0"\n[web]\nlisten = "127.0.0.1:0"\n'
} > "$cfg"
bench_daemon_with_config "$cfg"
rm -f "$cfg"

"${W[@]}" image ls 2>/dev/null | grep -q '^default ' ||
  "${W[@]}" image build default >/dev/null 2>>"$root/cli.log"
from=()
if [ -n "${DENSITY_CLONES:-}" ]; then
  "${W[@]}" image snapshot default >/dev/null 2>>"$root/cli.log"
  from=(--from default)
fi
url=$("${W[@]}" web | head -1)
port=$(sed -E 's|^http://[^:]+:([0-9]+)/.*|\1|' <<<"$url")
token=$(sed -E 's|.*token=([0-9a-f]+).*|\1|' <<<"$url")

mem_available_kib() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
qemu_pids() { pgrep -f -- "-name guest=d[0-9]+ .*$root/" || true; }
pss_total_kib() {
  local total=0 p v
  for p in $(qemu_pids); do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    total=$((total + v))
  done
  echo "$total"
}
# Sum and count of vm.list's server-side durations so far (seconds, calls).
vm_list_metrics() {
  curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" |
    awk '/^warren_rpc_request_duration_seconds_sum\{method="vm.list"\}/ {s=$2}
         /^warren_rpc_request_duration_seconds_count\{method="vm.list"\}/ {c=$2}
         END {print s+0, c+0}'
}
# Progress goes to cli.log; a failed create prints it and ends the bench.
create() {
  "${W[@]}" vm create "d$1" --memory "$mem" "${from[@]}" >/dev/null 2>>"$root/cli.log" ||
    { echo "creating d$1 failed:" >&2; tail -20 "$root/cli.log" >&2; return 1; }
}

worst_vm_kib=$((192 << 10))
# Creates VMs created+1 .. $1, up to 10 at a time, each batch only if memory allows.
ramp_to() {
  local upto=$1 i batch need
  while (( created < upto )); do
    batch=$(( upto - created < 10 ? upto - created : 10 ))
    need=$(( batch * worst_vm_kib * 3 / 2 + reserve_kib ))
    if (( $(mem_available_kib) < need )); then
      echo "stopping the ramp at $created VMs: MemAvailable $(( $(mem_available_kib) >> 10 )) MiB" \
           "< $(( need >> 10 )) MiB for $batch more" >&2
      return 1
    fi
    local pids=() failed=0
    for i in $(seq $((created + 1)) $((created + batch))); do create "$i" & pids+=($!); done
    for i in "${pids[@]}"; do wait "$i" || failed=1; done
    created=$((created + batch))  # a failed create's VM is removed at exit all the same
    (( failed == 0 )) || return 1
  done
}

milestones=()
for m in ${DENSITY_MILESTONES:-1 10 25 50 100}; do (( m <= n_max )) && milestones+=("$m"); done
(( n_max > ${milestones[-1]} )) && milestones+=("$n_max")

echo "density: up to $n_max idle VMs of the default image${DENSITY_CLONES:+ (clones of one snapshot)}, --memory $mem, tb-size ${tb} MiB" \
     "($(nproc) CPUs, $(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) >> 20 )) GiB, load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo "| n | create→ready of the n-th | PSS per VM | daemon RSS | daemon threads | daemon fds | \`vm ls\` server | \`exec true\` | the n-th resolves d1 by name | MemAvailable |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for m in "${milestones[@]}"; do
  ramp_to $((m - 1)) || break
  need=$(( worst_vm_kib * 3 / 2 + reserve_kib ))
  (( $(mem_available_kib) >= need )) || { echo "stopping before VM $m: MemAvailable too low" >&2; break; }
  s=$(now_ms); created=$m; create "$m" || break; ready_ms=$(( $(now_ms) - s ))
  sleep 10  # let the new guest settle (its boot-time work done) before PSS
  pss=$(pss_total_kib)
  per_vm=$(( pss / m ))
  (( per_vm > worst_vm_kib )) && worst_vm_kib=$per_vm
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon_pid/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$daemon_pid/status")
  fds=$(ls "/proc/$daemon_pid/fd" | wc -l)
  read -r s0 c0 < <(vm_list_metrics)
  for _ in $(seq 20); do "${W[@]}" vm ls >/dev/null; done
  read -r s1 c1 < <(vm_list_metrics)
  ls_ms=$(awk -v a="$s0" -v b="$s1" -v x="$c0" -v y="$c1" 'BEGIN {printf "%.2f", (b-a)*1000/(y-x)}')
  ex=()
  for _ in $(seq 5); do
    t=$(now_ms); "${W[@]}" exec d1 -- true; ex+=($(( $(now_ms) - t )))
  done
  ex_ms=$(printf '%s\n' "${ex[@]}" | sort -n | sed -n 3p)
  if "${W[@]}" exec "d$m" -- getent hosts d1 >/dev/null 2>&1; then dns=OK; else dns=FAIL; fi
  printf '| %d | %.1f s | %.1f MiB | %.1f MiB | %d | %d | %s ms | %d ms | %s | %d MiB |\n' \
    "$m" "$(awk -v x="$ready_ms" 'BEGIN {print x/1000}')" "$(awk -v x="$per_vm" 'BEGIN {print x/1024}')" \
    "$(awk -v x="$rss" 'BEGIN {print x/1024}')" "$threads" "$fds" "$ls_ms" "$ex_ms" "$dns" \
    "$(( $(mem_available_kib) >> 10 ))"
done

# With DENSITY_KSM=1: turn ksmd on (host-wide, so only on request, and the
# host's settings are put back at exit), let it scan until the merged count
# settles (at most DENSITY_KSM_WAIT_S, default 300 s), and measure PSS per VM
# again with the same VMs: the KSM lever's before and after in one run.
ksm=/sys/kernel/mm/ksm
if [ "${DENSITY_KSM:-0}" = 1 ] && [ -w "$ksm/run" ] && (( created > 0 )); then
  read -r ksm_run0 < "$ksm/run"; read -r ksm_pages0 < "$ksm/pages_to_scan"
  read -r ksm_sleep0 < "$ksm/sleep_millisecs"
  ksm_restore() {
    echo 2 > "$ksm/run"  # unmerge what this run merged
    echo "$ksm_pages0" > "$ksm/pages_to_scan"; echo "$ksm_sleep0" > "$ksm/sleep_millisecs"
    echo "$ksm_run0" > "$ksm/run"
  }
  trap 'ksm_restore; bench_cleanup' EXIT
  before=$(pss_total_kib); read -r scans0 < "$ksm/full_scans"
  # 1000 pages per 20 ms: ~190 MiB/s of scanning, so a few VMs converge in a minute.
  echo 1000 > "$ksm/pages_to_scan"; echo 20 > "$ksm/sleep_millisecs"; echo 1 > "$ksm/run"
  t0=$(now_ms); last=-1
  while (( $(now_ms) - t0 < ${DENSITY_KSM_WAIT_S:-300} * 1000 )); do
    sleep 15
    read -r sharing < "$ksm/pages_sharing"; read -r scans < "$ksm/full_scans"
    # Pages merge from ksmd's second pass on: at 100 VMs one pass takes a minute.
    (( scans - scans0 >= 2 && last >= 0 && sharing - last < last / 100 + 1 )) && break
    last=$sharing
  done
  read -r sharing < "$ksm/pages_sharing"; read -r shared < "$ksm/pages_shared"
  read -r scans < "$ksm/full_scans"; scans=$((scans - scans0))
  after=$(pss_total_kib)
  echo
  echo "| KSM, $created VMs | PSS per VM | ksmd pages_sharing / pages_shared | full scans | waited |"
  echo "|---|---|---|---|---|"
  printf '| off | %.1f MiB | — | — | — |\n' "$(awk -v x="$before" -v n="$created" 'BEGIN {print x/n/1024}')"
  printf '| on | %.1f MiB | %d / %d (%.0f MiB saved) | %d | %d s |\n' \
    "$(awk -v x="$after" -v n="$created" 'BEGIN {print x/n/1024}')" "$sharing" "$shared" \
    "$(awk -v a="$sharing" -v b="$shared" 'BEGIN {print (a-b)*4/1024}')" "$scans" $(( ($(now_ms) - t0) / 1000 ))
fi
