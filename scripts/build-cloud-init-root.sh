#!/usr/bin/env bash
# Builds a minimal Debian root holding one release's own cloud-init (no kernel,
# no boot), so a test can feed warren's seed to that version's parsers and
# renderers with `chroot ROOT cloud-init ...` (tests/image/seed_cloud_init_test.cc).
# A guest boot per release would cost minutes under TCG; the parsers are what
# rejected the seed before (cloud-init 22.4's `to: default`), and they run the
# same in a chroot.
#
# Usage: build-cloud-init-root.sh SUITE OUT_DIR   (SUITE: bullseye, trixie, ...)
# Writes OUT_DIR/{root/,stamp} atomically (a temp dir renamed into place) and
# does nothing when OUT_DIR is already complete. Needs root and mmdebstrap.
# The mirror is the host's own Debian mirror (its apt sources), with SUITE in
# place of the host's release. Exits 75 (EX_TEMPFAIL) when that mirror does not
# serve SUITE (unreachable, or no network): the test skips loudly on it.
set -euo pipefail

suite=${1:?usage: $0 SUITE OUT_DIR}
out=${2:?usage: $0 SUITE OUT_DIR}
# systemd: cloud-init's networkd renderer gives its files to the
# systemd-network user, which systemd's package creates.
packages=cloud-init,systemd
stamp="$suite minbase $packages"

if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ]; then
  exit 0
fi

# The host's Debian archive (one-line or deb822 sources), deb.debian.org if none.
mirror=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list \
           /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
         head -n1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

if ! curl -fsS --max-time 20 -o /dev/null "$mirror/dists/$suite/InRelease"; then
  echo "build-cloud-init-root: $mirror does not serve $suite (no network?)" >&2
  exit 75
fi

parent=$(dirname "$out")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.cloud-init-root-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

start=$(date +%s)
mmdebstrap --variant=minbase --format=directory --include="$packages" \
  --dpkgopt=path-exclude=/usr/share/man/* --dpkgopt=path-exclude=/usr/share/doc/* \
  --dpkgopt=path-include=/usr/share/doc/*/copyright \
  --dpkgopt=path-exclude=/usr/share/locale/* \
  "$suite" "$tmp/root" "deb $mirror $suite main"
echo "$stamp" >"$tmp/stamp"

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "cloud-init root for $suite built in $(($(date +%s) - start)) s: $out" >&2
