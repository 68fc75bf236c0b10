#!/usr/bin/env bash
# Installs everything warren needs to build, test and run on Debian 12.
# Idempotent: packages already present are skipped by apt.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get needs it)" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
# esbuild bundles the web UI's modules into one file at build time.
BUILD=(build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev
       nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
       libsqlite3-dev libssh-dev libnl-3-dev libnl-route-3-dev libnftables-dev libldns-dev
       libssl-dev libgtest-dev libgmock-dev libbenchmark-dev libyaml-dev
       libboost-dev zlib1g-dev libarchive-dev prometheus-cpp-dev libsystemd-dev esbuild)
# qemu-system-common (a dependency of qemu-system-x86, named because warren runs
# its /usr/lib/qemu/virtiofsd for shared folders).
RUNTIME=(qemu-system-x86 qemu-system-data qemu-system-common qemu-utils mmdebstrap e2fsprogs iproute2 busybox-static cpio genisoimage
         openssh-client dropbear-bin sqlite3 dnsutils dnsperf dnsmasq-base tmux ca-certificates)
# The web UI's tests: node runs them; the browser e2e drives Debian's chromium
# with playwright-core from npm (never a browser npm downloads).
WEB_TEST=(chromium)
# containerd-shim-warren-v1: protoc and libprotobuf for the task API's messages,
# whose .proto files come from Debian's containerd source package (with gogo's
# gogo.proto, which it depends on); containerd itself runs the shim's e2e test.
SHIM=(protobuf-compiler libprotobuf-dev golang-github-containerd-containerd-dev containerd)
# completion_test checks the zsh script with zsh (promtool: below); ssh_config
# e2e copies a tree with `rsync -e ssh` through `warren ssh-config`; a namespaced
# test that hangs has gdb print its threads before it is killed.
OTHER_TEST=(zsh rsync gdb)
# scripts/package.sh: dpkg-shlibdeps (dpkg-dev) declares the shared libraries,
# help2man writes the man page from `warren --help`, lintian judges the .deb
# (PackageE2eTest runs it; its python3 plays systemd's notify socket).
PACKAGE=(dpkg-dev help2man lintian python3)
missing=()
for p in "${BUILD[@]}" "${RUNTIME[@]}" "${WEB_TEST[@]}" "${SHIM[@]}" "${OTHER_TEST[@]}" "${PACKAGE[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (web assets, browser-test driver): whatever provides the
# commands is fine. A machine may carry another build of nodejs that bundles
# npm and conflicts with Debian's npm package, so ask Debian only for what is
# missing.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# metrics_daemon_test judges /metrics with promtool. Debian ships it only inside
# the `prometheus` package, whose install would also enable a Prometheus server
# (:9090) on a systemd host; the test needs the one static binary, so take it
# out of the package without installing it.
if ! command -v promtool >/dev/null; then
  tmp=$(mktemp -d) && chmod 755 "$tmp"  # apt downloads as _apt
  (cd "$tmp" && apt-get download -qq prometheus >/dev/null)
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -xf - -C "$tmp" ./usr/bin/promtool
  install -m 0755 "$tmp/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$tmp"
fi
# The web UI's xterm.js (npm, pinned; not committed): the build embeds web/vendor/.
"$(dirname "$0")/fetch-web-assets.sh"
# playwright-core into a cache outside the repository (tests/web/install-driver.sh).
"$(dirname "$0")/../tests/web/install-driver.sh" >/dev/null
