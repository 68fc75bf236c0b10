#!/usr/bin/env bash
# Queries per second of warren's DNS server vs dnsmasq, same names, same machine, one run.
# Loopback only. Needs dnsperf and dnsmasq-base (apt-get install dnsperf dnsmasq-base).
#
#   bench/dns_bench.sh BUILD_DIR [SECONDS=10] [ROUNDS=2]
#
# Each round runs dnsperf -c 4 -l SECONDS against warren (bench/dns_serve) then dnsmasq,
# both serving vm0..vm99.warren.internal, and prints the queries/s of each and the ratio.
set -euo pipefail

build=${1:?usage: dns_bench.sh BUILD_DIR [SECONDS] [ROUNDS]}
seconds=${2:-10}
rounds=${3:-2}
names=100
warren_port=${WARREN_DNS_PORT:-15353}
dnsmasq_port=${DNSMASQ_PORT:-15354}

for tool in dnsperf dnsmasq dig; do
  command -v "$tool" >/dev/null || { echo "dns_bench: $tool not installed" >&2; exit 2; }
done

work=$(mktemp -d)
chmod 755 "$work"  # dnsmasq reads its hosts file after dropping to an unprivileged user
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for ((i = 0; i < names; i++)); do
  echo "vm$i.warren.internal A" >>"$work/queries"
  echo "10.77.$((i / 250)).$((i % 250 + 1)) vm$i.warren.internal" >>"$work/hosts"
done

"$build/bench/dns_serve" "$warren_port" "$names" 2>"$work/warren.log" &
pids+=($!)
# --local keeps the zone authoritative here (no upstream); no /etc files read.
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --pid-file= \
  --addn-hosts="$work/hosts" --local=/warren.internal/ --port="$dnsmasq_port" \
  --listen-address=127.0.0.1 --bind-interfaces 2>"$work/dnsmasq.log" &
pids+=($!)

wait_up() {  # port
  for _ in $(seq 50); do
    [[ "$(dig @127.0.0.1 -p "$1" +short +tries=1 +time=1 vm7.warren.internal A)" == 10.77.0.8 ]] &&
      return 0
    sleep 0.1
  done
  echo "dns_bench: nothing answers on port $1" >&2
  exit 1
}
wait_up "$warren_port"
wait_up "$dnsmasq_port"

qps() {  # port
  dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -c 4 -l "$seconds" 2>&1 |
    awk '/Queries per second/ {print $4}'
}

echo "# dnsperf -c 4 -l $seconds, $names names, $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %14s %14s %8s\n' round warren_qps dnsmasq_qps ratio
for ((r = 1; r <= rounds; r++)); do
  w=$(qps "$warren_port")
  d=$(qps "$dnsmasq_port")
  printf '%-6s %14s %14s %8s\n' "$r" "$w" "$d" "$(awk -v w="$w" -v d="$d" 'BEGIN {printf "%.2f", w / d}')"
done
