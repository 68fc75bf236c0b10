#!/usr/bin/env bash
# Builds warren_<version>_<arch>.deb from a configured and built tree
# (-DWARREN_PACKAGE=ON -DCMAKE_INSTALL_PREFIX=/usr): `cmake --install` stages
# the files, this adds what Debian asks of a binary package (stripped binary,
# copyright, changelog, control with dpkg-shlibdeps' library Depends,
# conffiles, md5sums, maintainer scripts) and dpkg-deb writes the archive.
# dpkg-deb rather than CPack's DEB generator: the maintainer scripts, conffiles
# and shlibdeps are plain Debian files here, checked by lintian as they are,
# with no CPACK_DEBIAN_* variables between them and the package.
# Usage: make-deb.sh BUILD_DIR OUTDIR        (prints the .deb's path)
set -euo pipefail
build=$(cd "$1" && pwd)
outdir=$2
here=$(cd "$(dirname "$0")" && pwd)
maintainer=${WARREN_MAINTAINER:-"warren maintainers <warren@example.org>"}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/src/debian/warren  # where dpkg-shlibdeps expects a package's files
DESTDIR=$root cmake --install "$build" >/dev/null
for f in usr/bin/warren etc/warren/config.toml lib/systemd/system/warren.service \
         usr/share/man/man1/warren.1.gz usr/share/bash-completion/completions/warren \
         usr/share/zsh/vendor-completions/_warren; do
  if [ ! -e "$root/$f" ]; then
    echo "make-deb: $f not installed; configure $build with -DWARREN_PACKAGE=ON" \
         "-DCMAKE_INSTALL_PREFIX=/usr" >&2
    exit 2
  fi
done
if ! grep -qx 'ExecStart=/usr/bin/warren daemon' "$root/lib/systemd/system/warren.service"; then
  echo "make-deb: the unit does not start /usr/bin/warren; configure with -DCMAKE_INSTALL_PREFIX=/usr" >&2
  exit 2
fi

# What dh_strip does (debug symbols are not shipped).
# Every installed program: warren and containerd-shim-warren-v1.
bins=("$root"/usr/bin/*)
strip --strip-unneeded --remove-section=.comment --remove-section=.note "${bins[@]}"
version=$("$root/usr/bin/warren" --version)
arch=$(dpkg --print-architecture)

doc=$root/usr/share/doc/warren
install -d -m 0755 "$doc"
install -m 0644 "$here/debian/copyright" "$doc/copyright"
date=$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)}")
printf 'warren (%s) unstable; urgency=medium\n\n  * Upstream release %s.\n\n -- %s  %s\n' \
  "$version" "$version" "$maintainer" "$date" | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# Library Depends, as dh_shlibdeps finds them (it wants a debian/control to read).
mkdir -p "$stage/src/debian"  # made by cmake --install already
printf 'Source: warren\n\nPackage: warren\nArchitecture: any\n' >"$stage/src/debian/control"
shlibs=$(cd "$stage/src" && dpkg-shlibdeps -O "${bins[@]}" | sed -n 's/^shlibs:Depends=//p')
if [ -z "$shlibs" ]; then
  echo "make-deb: dpkg-shlibdeps found no library dependencies for usr/bin/*" >&2
  exit 1
fi
# Run-time tools (sys/, image/, caps/ run them): QEMU and its image tool,
# virtiofsd (in qemu-system-common), image builds (mmdebstrap, mkfs.ext4, cpio),
# the per-VM seed ISO (genisoimage); adduser for the postinst's group.
tools="adduser, qemu-system-x86, qemu-system-common, qemu-utils, mmdebstrap, e2fsprogs, cpio, genisoimage"

install -d -m 0755 "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<CONTROL
Package: warren
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $shlibs, $tools
Section: admin
Priority: optional
Description: microVM manager: throwaway Linux VMs in seconds
 warren is a daemon and a CLI that build Debian images and boot throwaway
 Linux VMs under QEMU (KVM where it works, TCG elsewhere), each with its own
 address and DNS name on a bridge inside a network namespace the daemon owns.
 Guest sessions (exec, shell), file copies and operations with progress are
 driven from the CLI, a JSON-RPC socket or a web UI.
 .
 The warren.service unit runs the daemon on the system layout; members of the
 warren group may use its socket without root.
CONTROL
echo /etc/warren/config.toml >"$root/DEBIAN/conffiles"
install -m 0755 "$here/debian/postinst" "$here/debian/prerm" "$here/debian/postrm" "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
   xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$outdir"
deb="$(cd "$outdir" && pwd)/warren_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
