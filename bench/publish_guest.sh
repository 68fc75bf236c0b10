#!/usr/bin/env bash
# A published port against a real guest: the same HTTP downloads from the
# guest's busybox httpd, once straight to the guest's address from inside the
# VM namespace (the reference) and once through the daemon's relay on the
# host's 127.0.0.1, interleaved, in one run. Needs root, QEMU and the default
# image (built on first use; $WARREN_TEST_CACHE speeds that up).
#
#   bench/publish_guest.sh WARREN_BINARY [MIB=64] [ROUNDS=3] [SMALL=50]
#
# Per round: one MIB MiB download each way (curl's speed), then SMALL requests
# of a 3-byte file each way (curl's time_total: connect + request + reply, so
# the relay's second connection is in it). bench/publish_bench measures the
# relay alone on loopback, where no guest limits it. The whole run happens in
# a network namespace of its own (unshare -n): nothing touches the machine's.
set -euo pipefail
if [ -z "${WARREN_BENCH_IN_NETNS:-}" ]; then
  exec unshare --net env WARREN_BENCH_IN_NETNS=1 "$0" "$@"
fi
ip link set lo up

warren=${1:?usage: publish_guest.sh WARREN_BINARY [MIB] [ROUNDS] [SMALL]}
mib=${2:-64}
rounds=${3:-3}
small=${4:-50}
port=18080
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/daemon.sh"
bench_daemon "$warren" publish-guest
"${W[@]}" vm create bench --memory 512 --publish "127.0.0.1:$port:8000" >/dev/null
"${W[@]}" exec bench -- sh -c "mkdir -p /tmp/www && echo ok > /tmp/www/small &&
  dd if=/dev/zero of=/tmp/www/big bs=1M count=$mib 2>/dev/null && busybox httpd -p 8000 -h /tmp/www"
ip=$("${W[@]}" --json vm inspect bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip"])')
ns=$("${W[@]}" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["namespace"])')
direct=(ip netns exec "$ns" curl -sS --max-time 120 -o /dev/null)
relay=(curl -sS --max-time 120 -o /dev/null)

# MiB/s of one download; seconds of one small request.
speed() { "$@" -w '%{speed_download}' | awk '{printf "%.1f", $1 / 1048576}'; }
took() { "$@" -w '%{time_total}'; }
small_median() {  # median ms of $small requests
  for _ in $(seq "$small"); do took "$@"; echo; done | sort -n |
    awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)] * 1000}'
}
echo "guest $ip in $ns; ${mib} MiB downloads and ${small} small requests per round"
printf '%-6s %14s %14s %7s %16s %16s %10s\n' round direct_MiB/s relay_MiB/s ratio direct_small_ms relay_small_ms added_ms
rows=()
for r in $(seq "$rounds"); do
  d=$(speed "${direct[@]}" "http://$ip:8000/big")
  l=$(speed "${relay[@]}" "http://127.0.0.1:$port/big")
  ds=$(small_median "${direct[@]}" "http://$ip:8000/small")
  ls=$(small_median "${relay[@]}" "http://127.0.0.1:$port/small")
  row=$(printf '%-6s %14s %14s %7s %16s %16s %10s' "$r" "$d" "$l" \
    "$(awk -v a="$l" -v b="$d" 'BEGIN {printf "%.2f", a / b}')" "$ds" "$ls" \
    "$(awk -v a="$ls" -v b="$ds" 'BEGIN {printf "%.2f", a - b}')")
  echo "$row"
  rows+=("$row")
done
# The median of each column over the rounds (a TCG guest's speed swings with
# whatever else the 2 cores run, so no single round stands for the rest).
printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
cols = list(zip(*[line.split()[1:] for line in sys.stdin]))
m = [statistics.median(float(x) for x in c) for c in cols]
print("%-6s %14.1f %14.1f %7.2f %16.2f %16.2f %10.2f" % ("median", *m))'
