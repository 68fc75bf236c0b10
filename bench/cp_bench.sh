#!/usr/bin/env bash
# `warren cp` against `warren exec` streaming the same bytes with `cat`, both
# directions, same guest, one run each, interleaved (exec, cp, exec, cp). Needs
# root, QEMU and the default image ($WARREN_TEST_CACHE speeds up its build).
#
#   bench/cp_bench.sh WARREN_BINARY [MIB=64] [ROUNDS=1]
#
# Each side writes a real file at the far end (cat > FILE in the guest, > FILE
# on the host), so the only difference is tar framing, libarchive and cp's
# header exchange. The data is incompressible (urandom), though nothing here
# compresses. Prints MiB/s of each and the ratio cp / exec. Everything is
# removed at the end.
set -euo pipefail

warren=${1:?usage: cp_bench.sh WARREN_BINARY [MIB] [ROUNDS]}
mib=${2:-64}
rounds=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/daemon.sh"
bench_daemon "$warren" cp
"${W[@]}" vm create bench >/dev/null
head -c "${mib}M" /dev/urandom > "$root/data"
"${W[@]}" exec bench -- true  # warm the daemon's connection pool

rate() {  # label, command...: prints "label N MiB/s" and echoes the rate
  local s e
  s=$(date +%s%N); "${@:2}"; e=$(date +%s%N)
  awk -v m="$mib" -v ns=$((e - s)) 'BEGIN {printf "%.2f", m / (ns / 1e9)}'
}
up_exec() { "${W[@]}" exec bench -- sh -c 'cat > /root/by-exec' < "$root/data"; }
up_cp() { "${W[@]}" cp -q "$root/data" bench:/root/by-cp; }
down_exec() { "${W[@]}" exec bench -- cat /root/by-exec > "$root/back-exec"; }
down_cp() { rm -f "$root/back-cp"; "${W[@]}" cp -q bench:/root/by-cp "$root/back-cp"; }

echo "warren cp vs warren exec (cat), $mib MiB, $rounds round(s), same guest:"
for r in $(seq "$rounds"); do
  ue=$(rate "exec" up_exec); uc=$(rate "cp" up_cp)
  de=$(rate "exec" down_exec); dc=$(rate "cp" down_cp)
  cmp -s "$root/data" "$root/back-exec" && cmp -s "$root/data" "$root/back-cp" ||
    { echo "cp_bench: the bytes that came back differ" >&2; exit 1; }
  awk -v ue="$ue" -v uc="$uc" -v de="$de" -v dc="$dc" -v r="$r" 'BEGIN {
    printf "  round %d host -> guest: exec %.1f MiB/s, cp %.1f MiB/s, ratio %.2f\n", r, ue, uc, uc / ue
    printf "  round %d guest -> host: exec %.1f MiB/s, cp %.1f MiB/s, ratio %.2f\n", r, de, dc, dc / de }'
done
