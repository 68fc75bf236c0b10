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
# net-tools: cloud-init's ENI renderer (Debian 11/12) adds static routes with
# `route` (`post-up route add default gw ... || true`): without it the guest
# silently has no default route.
packages=linux-image-cloud-amd64,initramfs-tools,systemd-sysv,udev,openssh-server,cloud-init,ifupdown,isc-dhcp-client,netbase,iproute2,net-tools

# The locale a Debian install sets up through debconf (the installer and
# Debian's cloud images do): cloud-init's Debian default is en_US.UTF-8, and
# when that is not the system's locale its `locale` module runs
# `update-locale LANG=en_US.UTF-8`, which fails for a locale never generated
# and leaves `cloud-init status` at "error".
locale=en_US.UTF-8
locale_hook="echo '$locale UTF-8' > \"\$1/etc/locale.gen\" && chroot \"\$1\" locale-gen && echo LANG=$locale > \"\$1/etc/default/locale\""
stamp="$suite $packages locale=$locale"

if [ -f "$out/packages.txt" ] && [ "$(cat "$out/packages.txt")" = "$stamp" ]; then
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
  --customize-hook="$locale_hook" \
  "$suite" "$tmp/rootfs.tar" "${sources[@]}"

# The kernel and initrd the distribution installed, copied out of the root.
tar -C "$tmp" -xf "$tmp/rootfs.tar" --wildcards './boot/vmlinuz-*' './boot/initrd.img-*'
mv "$tmp"/boot/vmlinuz-* "$tmp/vmlinuz"
mv "$tmp"/boot/initrd.img-* "$tmp/initrd.img"
rmdir "$tmp/boot"
echo "$stamp" >"$tmp/packages.txt"

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "stock cloud image built in $(($(date +%s) - start)) s: $out" >&2
