#!/usr/bin/env bash
# Builds a stock Debian 12 cloud guest the way a user would, NOT with warren's
# image builder: mmdebstrap with Debian's cloud kernel, Debian's own initrd
# (initramfs-tools), systemd, openssh-server, cloud-init 22.4 and ifupdown (what
# Debian 12's cloud images use to bring up the network cloud-init renders).
# The e2e test `StockCloudImageE2eTest` registers it with `warren image register`.
#
# Usage: build-stock-cloud-image.sh OUT_DIR
# Writes OUT_DIR/{vmlinuz,initrd.img,rootfs.tar,packages.txt} atomically (a
# temp dir renamed into place) and does nothing when OUT_DIR is already
# complete for this package list. Needs root and mmdebstrap; uses the host's
# own apt sources (like warren's builder, it never names a mirror).
set -euo pipefail

out=${1:?usage: $0 OUT_DIR}
suite=bookworm
packages=linux-image-cloud-amd64,initramfs-tools,systemd-sysv,udev,openssh-server,cloud-init,ifupdown,isc-dhcp-client,netbase,iproute2

if [ -f "$out/packages.txt" ] && [ "$(cat "$out/packages.txt")" = "$suite $packages" ]; then
  exit 0
fi

sources=()
[ -f /etc/apt/sources.list ] && sources+=(/etc/apt/sources.list)
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && sources+=("$f")
done

parent=$(dirname "$out")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.stock-cloud-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

start=$(date +%s)
mmdebstrap --variant=minbase --format=tar --include="$packages" \
  --dpkgopt=path-exclude=/usr/share/man/* --dpkgopt=path-exclude=/usr/share/doc/* \
  --dpkgopt=path-include=/usr/share/doc/*/copyright \
  --dpkgopt=path-exclude=/usr/share/locale/* \
  "$suite" "$tmp/rootfs.tar" "${sources[@]}"

# The kernel and initrd the distribution installed, copied out of the root.
tar -C "$tmp" -xf "$tmp/rootfs.tar" --wildcards './boot/vmlinuz-*' './boot/initrd.img-*'
mv "$tmp"/boot/vmlinuz-* "$tmp/vmlinuz"
mv "$tmp"/boot/initrd.img-* "$tmp/initrd.img"
rmdir "$tmp/boot"
echo "$suite $packages" >"$tmp/packages.txt"

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "stock cloud image built in $(($(date +%s) - start)) s: $out" >&2
