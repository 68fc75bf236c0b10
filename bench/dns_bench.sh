#!/usr/bin/env bash
# Queries per second of the warren daemon's DNS as shipped vs dnsmasq: same names, same
# answers, same machine, interleaved in one run.
#
#   bench/dns_bench.sh BUILD_DIR [SECONDS=10] [ROUNDS=3] [VMS=2]
#
# Runs itself inside a throwaway network namespace (unshare -n, loopback up), where it
# starts a real `warren daemon` on a temp --root with the default config (the host listener
# at 127.0.0.1:5354; only images.cache_dir points at $WARREN_TEST_CACHE when set, so the
# default image builds from the cached base), creates VMS VMs through the CLI so the names
# have real A records (their boots are not timed), and starts dnsmasq serving the same
# names and addresses. Queried: NAME.<domain> A for every VM, and ns.<domain> A (answered
# by the zone itself, the bridge address): with VMS=0 only the latter. Each round runs
# `dnsperf -c 4 -l SECONDS` against the daemon's host listener, then against dnsmasq.
# Needs dnsperf, dnsmasq-base, jq, and root (namespaces, QEMU).
set -euo pipefail

build=${1:?usage: dns_bench.sh BUILD_DIR [SECONDS] [ROUNDS] [VMS]}
seconds=${2:-10}
rounds=${3:-3}
vms=${4:-2}
build=$(cd "$build" && pwd)

if [[ -z "${WARREN_DNS_BENCH_IN_NETNS:-}" ]]; then
  # Everything below, the daemon's own VM namespace included, lives in here.
  exec env WARREN_DNS_BENCH_IN_NETNS=1 unshare --net --fork -- \
    bash -c 'ip link set lo up && exec "$@"' dns_bench "$0" "$build" "$seconds" "$rounds" "$vms"
fi

for tool in dnsperf dnsmasq dig jq; do
  command -v "$tool" >/dev/null || { echo "dns_bench: $tool not installed" >&2; exit 2; }
done
warren="$build/src/cli/warren"
[[ -x "$warren" ]] || { echo "dns_bench: no warren binary in $build" >&2; exit 2; }

work=$(mktemp -d)
chmod 755 "$work"  # dnsmasq reads its hosts file after dropping to an unprivileged user
root="$work/root"
mkdir -p "$root"
if [[ -n "${WARREN_TEST_CACHE:-}" ]]; then
  printf '[images]\ncache_dir = "%s"\n' "$(cd "$WARREN_TEST_CACHE" && pwd)" >"$root/config.toml"
fi
w() { "$warren" --root "$root" "$@"; }

daemon_pid='' dnsmasq_pid='' netns=''
cleanup() {
  if [[ -n "$daemon_pid" ]]; then
    for ((i = 0; i < vms; i++)); do w vm rm --force "vm$i" >/dev/null 2>&1 || true; done
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  if [[ -n "$dnsmasq_pid" ]]; then kill "$dnsmasq_pid" 2>/dev/null || true; wait "$dnsmasq_pid" 2>/dev/null || true; fi
  if [[ -n "$netns" ]] && ip netns list | grep -qw "$netns"; then ip netns delete "$netns" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$warren" --root "$root" daemon 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 300); do w --json status >"$work/status.json" 2>/dev/null && break; sleep 0.1; done
netns=$(jq -r '.network.namespace // ""' "$work/status.json")
listen=$(jq -r '.network.dns_host_listen' "$work/status.json")
domain=$(w --json dns ls | jq -r '.domain')
host=${listen%:*} port=${listen##*:}
[[ -n "$port" && "$port" != null ]] || { echo "dns_bench: daemon has no host DNS listener" >&2; cat "$work/daemon.log" >&2; exit 1; }

for ((i = 0; i < vms; i++)); do
  w vm create "vm$i" >/dev/null || { echo "dns_bench: vm create vm$i failed" >&2; tail -20 "$work/daemon.log" >&2; exit 1; }
done

# The names and addresses the daemon answers, for the query file and dnsmasq's hosts file.
ns_ip=$(dig @"$host" -p "$port" +short "ns.$domain" A)
echo "ns.$domain A" >"$work/queries"
echo "$ns_ip ns.$domain" >"$work/hosts"
w --json vm ls | jq -r '.vms[] | "\(.ip) \(.name)"' | while read -r ip name; do
  echo "$name.$domain A" >>"$work/queries"
  echo "$ip $name.$domain" >>"$work/hosts"
done

dnsmasq_port=15354
# --local keeps the zone authoritative here (no upstream); no /etc files read.
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --pid-file= \
  --addn-hosts="$work/hosts" --local="/$domain/" --port="$dnsmasq_port" \
  --listen-address=127.0.0.1 --bind-interfaces 2>"$work/dnsmasq.log" &
dnsmasq_pid=$!

# Both must give the same answer for every name before anything is timed.
while read -r ip name; do
  for p in "$port" "$dnsmasq_port"; do
    for _ in $(seq 50); do
      [[ "$(dig @127.0.0.1 -p "$p" +short +tries=1 +time=1 "$name" A)" == "$ip" ]] && break
      sleep 0.1
    done
    [[ "$(dig @127.0.0.1 -p "$p" +short +tries=1 +time=1 "$name" A)" == "$ip" ]] ||
      { echo "dns_bench: port $p does not answer $name A = $ip" >&2; exit 1; }
  done
done <"$work/hosts"

run() {  # port → "qps lost"
  dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -c 4 -l "$seconds" 2>&1 | awk '
    /Queries lost:/ {lost = $3}
    /Queries per second/ {qps = $4}
    END {print qps, lost}'
}

echo "# dnsperf -c 4 -l $seconds, $(wc -l <"$work/queries") names ($vms VMs + ns.$domain)," \
  "$(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# warren daemon $listen (default config) vs dnsmasq $(dnsmasq --version | head -1 | awk '{print $3}') 127.0.0.1:$dnsmasq_port"
printf '%-6s %12s %8s %12s %8s %7s\n' round warren_qps lost dnsmasq_qps lost ratio
for ((r = 1; r <= rounds; r++)); do
  read -r wq wl < <(run "$port")
  read -r dq dl < <(run "$dnsmasq_port")
  printf '%-6s %12s %8s %12s %8s %7s\n' "$r" "$wq" "$wl" "$dq" "$dl" \
    "$(awk -v w="$wq" -v d="$dq" 'BEGIN {printf "%.2f", w / d}')"
done
