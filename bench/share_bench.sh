#!/usr/bin/env bash
# A shared folder (virtiofs) against `warren exec` carrying the same bytes:
# file copy throughput both ways, same guest, one run each. Needs root, QEMU
# and the default image (built on first use; $WARREN_TEST_CACHE speeds that up).
#
#   bench/share_bench.sh WARREN_BINARY [MIB=64]
#
# Starts a daemon under a temp root (its own network namespace), creates one VM
# with `--share DIR:/mnt/share`, then copies MIB MiB of random bytes
#   host -> guest disk: `cp /mnt/share/blob /root/blob` in the guest
#                       vs `warren exec VM -- sh -c 'cat > /root/blob' < blob`
#   guest -> host:      `cp /root/blob /mnt/share/back` in the guest
#                       vs `warren exec VM -- cat /root/blob > back`
# Every copy is one `warren exec` (so both sides pay its start-up), the guest's
# page cache is dropped before each, and the bytes are compared afterwards.
# Everything is removed at the end.
set -euo pipefail

warren=${1:?usage: share_bench.sh WARREN_BINARY [MIB]}
mib=${2:-64}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/daemon.sh"
bench_daemon "$warren" share
share="$root/share"
mkdir -p "$share"
chmod 0777 "$root" "$share"
head -c "${mib}M" /dev/urandom > "$share/blob"
"${W[@]}" vm create bench --memory 512 --share "$share:/mnt/share" >/dev/null

gexec() { "${W[@]}" exec bench -- "$@"; }
drop() { gexec sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'; }
rate() {  # label, command...: MiB/s of one run
  local s e
  drop
  s=$(date +%s%N); "${@:2}"; e=$(date +%s%N)
  awk -v m="$mib" -v ns=$((e - s)) -v l="$1" 'BEGIN {printf "  %-44s %6.1f MiB/s (%.2f s)\n", l, m / (ns / 1e9), ns / 1e9}'
}
same() {  # a, b: the copies are byte-identical
  cmp -s "$1" "$2" || { echo "share_bench: $1 and $2 differ" >&2; exit 1; }
}
sum_in_guest() { gexec sha256sum "$1" | cut -d' ' -f1; }
want=$(sha256sum "$share/blob" | cut -d' ' -f1)

echo "file copy, $mib MiB, one run each, same guest:"
rate "share, host -> guest disk (cp in the guest):" gexec sh -c 'cp /mnt/share/blob /root/blob && sync'
[ "$(sum_in_guest /root/blob)" = "$want" ] || { echo "share_bench: share copy differs" >&2; exit 1; }
gexec rm -f /root/blob
rate "warren exec, host -> guest disk (cat):" sh -c "${W[*]} exec bench -- sh -c 'cat > /root/blob && sync' < '$share/blob'"
[ "$(sum_in_guest /root/blob)" = "$want" ] || { echo "share_bench: exec copy differs" >&2; exit 1; }
rate "share, guest disk -> host (cp in the guest):" gexec sh -c 'cp /root/blob /mnt/share/back && sync'
same "$share/blob" "$share/back"
rm -f "$share/back"
rate "warren exec, guest disk -> host (cat):" sh -c "${W[*]} exec bench -- cat /root/blob > '$share/back'"
same "$share/blob" "$share/back"
