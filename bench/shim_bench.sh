#!/usr/bin/env bash
# containerd's `ctr run --rm` through containerd-shim-warren-v1 against
# `warren vm create` + `warren exec` of the same image on the same daemon: the
# time from the command's start to the guest process's first output line
# (`echo started`), runs interleaved (RUNS of each), in one run; then the shim's
# own overhead (difference and ratio of the medians) and the per-VM cost of a
# shim task's VM for a RuntimeClass `overhead` (docs/KUBERNETES.md).
#
#   bench/shim_bench.sh WARREN_BINARY SHIM_BINARY_DIR [RUNS=3] [IDLE_S=30]
#
# Needs root, QEMU, Debian's containerd + ctr (1.6) and the default image
# ($WARREN_TEST_CACHE speeds up its build). containerd runs as ShimE2eTest's
# does: its own root, state, config and sockets, the CRI plugin off, the shim
# found on its PATH, WARREN_ROOT pointing at this script's daemon (isolated
# mode: every bridge, TAP and guest lives in the daemon's namespace).
#
# Per-VM cost, on one idle `ctr run -d` task after IDLE_S seconds of settling:
# PSS and RSS of the VM's QEMU and of its virtiofsd (the task's rootfs share)
# from /proc/PID/smaps_rollup, and their CPU over the next IDLE_S seconds
# (utime + stime from /proc/PID/stat) as a share of one core.
set -euo pipefail

warren=${1:?usage: shim_bench.sh WARREN_BINARY SHIM_BINARY_DIR [RUNS] [IDLE_S]}
shim_dir=$(realpath "${2:?usage: shim_bench.sh WARREN_BINARY SHIM_BINARY_DIR [RUNS] [IDLE_S]}")
runs=${3:-3}
idle_s=${4:-30}
here=$(cd "$(dirname "$0")" && pwd)
image=docker.io/library/warren-shim-bench:1
. "$here/lib/daemon.sh"
bench_cleanup_extra() {
  if [ -n "${cd_pid:-}" ]; then
    ctr -a "$cd_sock" task kill -s SIGKILL idle >/dev/null 2>&1 || true
    sleep 1
    ctr -a "$cd_sock" task rm -f idle >/dev/null 2>&1 || true
    ctr -a "$cd_sock" containers rm idle >/dev/null 2>&1 || true
    kill "$cd_pid" 2>/dev/null && wait "$cd_pid" 2>/dev/null || true
    umount -R "$root/containerd/root" 2>/dev/null || true
  fi
  for v in $("${W[@]}" vm ls 2>/dev/null | awk 'NR > 1 {print $1}'); do
    "${W[@]}" vm rm "$v" --force >/dev/null 2>&1 || true
  done
}
bench_daemon "$warren" shim
# The default image is built (or taken from the cache) before any timed run.
"${W[@]}" vm create bench >/dev/null 2>&1
"${W[@]}" vm rm bench --force >/dev/null

cdir="$root/containerd"
cd_sock="$cdir/containerd.sock"
mkdir -p "$cdir"
cat > "$cdir/config.toml" <<TOML
version = 2
root = "$cdir/root"
state = "$cdir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$cd_sock"
[ttrpc]
  address = "$cd_sock.ttrpc"
[debug]
  address = "$cdir/debug.sock"
TOML
PATH="$shim_dir:$PATH" WARREN_ROOT="$root" containerd --config "$cdir/config.toml" \
  >"$cdir/containerd.log" 2>&1 &
cd_pid=$!
for _ in $(seq 100); do ctr -a "$cd_sock" version >/dev/null 2>&1 && break; sleep 0.1; done
ctr -a "$cd_sock" version >/dev/null
"$here/../tests/e2e/shim/make_oci_image.sh" "$cdir/image.tar" "$image"
ctr -a "$cd_sock" images import "$cdir/image.tar" >/dev/null
ctr_run=(ctr -a "$cd_sock" run --runtime io.containerd.warren.v1)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# command...: ms from its start to its first output line ("started"); the rest
# of its output is drained and the command's end awaited (not timed).
first_line_ms() {
  local s line t
  s=$(now_ms)
  { read -r line; t=$(now_ms); cat >/dev/null; } < <("$@" 2>&1)
  [ "$line" = started ] || { echo "unexpected first line from $*: $line" >&2; exit 1; }
  echo $(( t - s ))
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

s=(); w=()
for i in $(seq "$runs"); do  # interleaved: shim, warren, shim, warren, ...
  s+=("$(first_line_ms "${ctr_run[@]}" --rm "$image" "b$i" /bin/echo started)")
  w+=("$(first_line_ms sh -c "'$warren' --root '$root' vm create w$i >/dev/null 2>&1 &&
                              exec '$warren' --root '$root' exec w$i -- /bin/echo started")")
  "${W[@]}" vm rm "w$i" --force >/dev/null
done
ms=$(median "${s[@]}"); mw=$(median "${w[@]}")
echo "start to first output line, $runs runs each, interleaved, one daemon (ms):"
echo "  ctr run --rm (containerd + shim):  ${s[*]}  median $ms"
echo "  warren vm create + warren exec:    ${w[*]}  median $mw"
awk -v a="$ms" -v b="$mw" 'BEGIN {
  printf "  shim overhead (medians): %+d ms, ratio %.2f\n", a - b, a / b }'

# Per-VM cost of one idle shim task: its QEMU, and its rootfs share's
# virtiofsd (which forks into its own namespaces: every process serving the
# socket is counted).
"${ctr_run[@]}" -d "$image" idle /bin/sleep 3600 >/dev/null
qemu=$(pgrep -f -- "-name guest=ctr-default-idle " | head -1)
vfsd=$(pgrep -f -- "--socket-path=.*/ctr-default-idle/" | tr '\n' ' ')
sleep "$idle_s"
sum_kib() { local k=$1 t=0 p; shift; for p in "$@"; do
  t=$(( t + $(awk -v k="$k:" '$1 == k {print $2}' "/proc/$p/smaps_rollup") )); done; echo $(( t / 1024 )); }
sum_ticks() { local t=0 p; for p in "$@"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") )); done; echo "$t"; }
hz=$(getconf CLK_TCK)
# shellcheck disable=SC2086 # $vfsd is a list of pids
c0=$(sum_ticks "$qemu"); v0=$(sum_ticks $vfsd)
sleep "$idle_s"
c1=$(sum_ticks "$qemu"); v1=$(sum_ticks $vfsd)
millicores() { awk -v d="$1" -v hz="$hz" -v t="$idle_s" 'BEGIN {printf "%.0f", 1000 * d / hz / t}'; }
echo "one idle task's VM (default size), after ${idle_s} s settling, CPU over the next ${idle_s} s:"
echo "  QEMU (pid $qemu): PSS $(sum_kib Pss "$qemu") MiB, RSS $(sum_kib Rss "$qemu") MiB," \
     "CPU $(millicores $((c1 - c0))) millicores"
# shellcheck disable=SC2086
echo "  virtiofsd (pids $vfsd): PSS $(sum_kib Pss $vfsd) MiB, RSS $(sum_kib Rss $vfsd) MiB," \
     "CPU $(millicores $((v1 - v0))) millicores"
