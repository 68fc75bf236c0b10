#!/usr/bin/env bash
# PackageE2eTest: the Debian package from build to purge.
#   1. packaging/make-deb.sh builds the .deb from this build tree; lintian
#      finds no error; apt accepts its Depends on this host (simulated).
#   2. systemd-analyze verifies warren.service as installed.
#   3. dpkg installs it into a throwaway Debian root (minbase + adduser, made by
#      mmdebstrap once and cached in $WARREN_TEST_CACHE): the files, the conffile,
#      the `warren` group and the enabled unit are there.
#   4. The installed binary runs the daemon with the installed config (on a
#      temporary --root, isolated network mode) as systemd would start it: with
#      NOTIFY_SOCKET, READY=1 must arrive once the socket (group warren, 0660)
#      accepts. Then `vm create` + `exec`, `vm rm`, SIGTERM.
#   5. `dpkg -r` keeps state and config; `dpkg -P` leaves the root as it was.
# Everything runs inside private mount and PID namespaces (unshare): the
# host's /usr, /etc and groups are never touched, and when the script ends
# every process it started (daemon, QEMU) dies with the namespace. The network
# namespace stays the host's, because mmdebstrap (the throwaway root, the
# default image) needs the Debian mirror; the daemon runs in isolated mode, so
# its bridge, TAPs and guests live in a namespace of its own, and it listens on
# loopback only.
# Usage: package_e2e_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)

if [ -z "${WARREN_PKG_E2E_WORK:-}" ]; then
  # The files go once every process of the namespace is dead (the kernel kills
  # them all when its first process, the inner script, exits).
  work=$(mktemp -d /tmp/wpkg.XXXXXX)
  rc=0
  WARREN_PKG_E2E_WORK=$work unshare --mount --pid --fork --kill-child --mount-proc \
    --propagation private "$0" "$@" || rc=$?
  # A daemon killed with the namespace leaves its VM namespace's name (an empty
  # file: the mount was in the private mount namespace) in the host's /run/netns.
  if [ -e "/run/netns/wpkg-${work##*.}" ]; then ip netns delete "wpkg-${work##*.}" || true; fi
  rm -rf "$work"
  exit "$rc"
fi
work=$WARREN_PKG_E2E_WORK

fail() { echo "PackageE2eTest: FAIL: $*" >&2; exit 1; }
step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }
cache=${WARREN_TEST_CACHE:-$work}

step "build the package"
deb=$(timeout 300 "$src/packaging/make-deb.sh" "$build" "$work/out")
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb"

step "lintian"
timeout 300 lintian --fail-on error --display-info "$deb" || fail "lintian reports errors"

step "apt accepts the Depends on this host (simulated)"
timeout 120 apt-get install --simulate --no-download "$deb" >"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log"; fail "apt cannot satisfy the package's Depends"; }
grep -q '^Inst warren\b' "$work/apt.log" || { cat "$work/apt.log"; fail "apt would not install warren"; }

step "systemd-analyze verify the unit"
mkdir "$work/x"
dpkg-deb -x "$deb" "$work/x"
# Against the host's systemd units (its targets); only ExecStart's path points
# at the extracted binary, since /usr/bin/warren is not installed on the host.
# --man=no: the man page is checked below, in the installed root.
mkdir "$work/unit"
sed "s|^ExecStart=/usr/bin/warren |ExecStart=$work/x/usr/bin/warren |" \
  "$work/x/lib/systemd/system/warren.service" >"$work/unit/warren.service"
grep -q "^ExecStart=$work/x/usr/bin/warren daemon\$" "$work/unit/warren.service" ||
  fail "the unit's ExecStart is not /usr/bin/warren daemon"
timeout 60 systemd-analyze verify --man=no "$work/unit/warren.service" >"$work/verify.log" 2>&1 ||
  { cat "$work/verify.log"; fail "systemd-analyze verify failed"; }
if [ -s "$work/verify.log" ]; then cat "$work/verify.log"; fail "systemd-analyze verify warned"; fi
grep -q '^Type=notify$' "$work/x/lib/systemd/system/warren.service" || fail "unit is not Type=notify"

step "install into a throwaway root"
base=$cache/package-e2e-minbase.tar  # recipe: mmdebstrap --variant=minbase --include=adduser bookworm
if [ ! -f "$base" ]; then
  # The host's apt sources, named (without them mmdebstrap reads a sources.list
  # from stdin when stdin is not a terminal, as under ctest).
  sources=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sources+=("$f")
  done
  timeout 600 mmdebstrap --quiet --variant=minbase --include=adduser --format=tar bookworm \
    "$base.$$" "${sources[@]}" </dev/null
  mv "$base.$$" "$base"
fi
root=$work/root
mkdir "$root"
tar --numeric-owner -xpf "$base" -C "$root"
snapshot() {  # every path and mode of the root but dpkg's and the logs' bookkeeping,
  # and what adduser's tools leave for any group added and deleted: the shadow
  # backup (/etc/gshadow-, as /etc/group- already is) and adduser's lock file.
  (cd "$root" && find . \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache/debconf \
     -o -path ./tmp -o -path ./proc -o -path ./dev -o -path './etc/*-' -o -path ./run/adduser \) \
     -prune -o -printf '%p %m %U:%G\n' | LC_ALL=C sort)
}
snapshot >"$work/before"
cp "$root/etc/group" "$work/group.before"
cp "$deb" "$root/tmp/warren.deb"
# The daemon's tools (QEMU, mmdebstrap...) are not in this small root: the
# daemon runs below from the installed files with the host's tools, and apt
# checked the Depends above.
timeout 300 chroot "$root" dpkg --force-depends -i /tmp/warren.deb
rm "$root/tmp/warren.deb"
for f in usr/bin/warren etc/warren/config.toml lib/systemd/system/warren.service \
         usr/share/man/man1/warren.1.gz usr/share/bash-completion/completions/warren \
         usr/share/zsh/vendor-completions/_warren usr/share/doc/warren/copyright; do
  [ -e "$root/$f" ] || fail "/$f not installed"
done
chroot "$root" getent group warren >/dev/null || fail "postinst made no warren group"
[ -L "$root/etc/systemd/system/multi-user.target.wants/warren.service" ] || fail "unit not enabled"
chroot "$root" dpkg-query -W -f='${Conffiles}\n' warren | grep -q '/etc/warren/config.toml' ||
  fail "config.toml is not a conffile"
grep -qx 'socket_group = "warren"' "$root/etc/warren/config.toml" || fail "config does not name the group"
zcat "$root/usr/share/man/man1/warren.1.gz" | grep -q '^\.SS "warren vm create"' ||
  fail "man page lacks the vm create section"
bash -n "$root/usr/share/bash-completion/completions/warren" || fail "bash completion does not parse"

step "the installed daemon on a temporary root"
# getgrnam inside the daemon must see the group the postinst made: this mount
# namespace's /etc/group is the installed root's.
mount --bind "$root/etc/group" /etc/group
gid=$(getent group warren | cut -d: -f3)
t=$work/t
mkdir -p "$t"
# The VM namespace gets a name the wrapper above can remove if the test dies.
sed -e "s|^cache_dir = \"\"|cache_dir = \"$cache\"|" -e "s|^namespace = \"\"|namespace = \"wpkg-${work##*.}\"|" \
    -e 's|^mode = .*|mode = "isolated"|' -e 's|^host_listen = .*|host_listen = "127.0.0.1:0"|' \
    -e 's|^listen = .*|listen = "127.0.0.1:0"|' "$root/etc/warren/config.toml" >"$t/config.toml"
warren=$root/usr/bin/warren
# A notify socket as systemd's: READY=1 must come once the RPC socket accepts.
python3 - "$work/notify" "$t/run/warren.sock" >"$work/notify.log" 2>&1 <<'PY' &
import os, socket, sys, time
path, rpc = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(120)
while True:
    msg = s.recv(4096).decode()
    print("notify:", msg.replace("\n", " "), flush=True)
    if "READY=1" in msg.split("\n"):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(rpc)  # raises (and the test fails) if the socket is not listening yet
        print("READY=1 and the socket accepts", flush=True)
        sys.exit(0)
PY
notifier=$!
for _ in $(seq 100); do [ -S "$work/notify" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$work/notify "$warren" --root "$t" daemon >"$work/daemon.out" 2>&1 &
daemon=$!
wait "$notifier" || { cat "$work/notify.log" "$work/daemon.out" "$t/log/warrend.log" 2>/dev/null;
                      fail "no READY=1 with a listening socket"; }
cat "$work/notify.log"
[ "$(stat -c '%a %g' "$t/run/warren.sock")" = "660 $gid" ] ||
  fail "socket is $(stat -c '%a %g' "$t/run/warren.sock"), want 660 and the warren group ($gid)"
w() { timeout 600 "$warren" --root "$t" "$@"; }
w status
w image ls | grep -q '^default\b' || w image build default >/dev/null
w vm create pkgvm
out=$(w exec pkgvm -- uname -n)
[ "$out" = pkgvm ] || fail "exec printed '$out', want pkgvm"
w vm rm --force pkgvm
kill -TERM "$daemon"
for _ in $(seq 900); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
wait "$daemon" || fail "daemon exited with $? after SIGTERM"
umount /etc/group

step "remove keeps state and config, purge leaves nothing"
# What a daemon on the system layout leaves behind.
mkdir -p "$root/var/lib/warren/images" "$root/var/log/warren"
echo state >"$root/var/lib/warren/warren.db"
echo log >"$root/var/log/warren/warrend.log"
timeout 120 chroot "$root" dpkg -r warren
[ -f "$root/var/lib/warren/warren.db" ] || fail "remove deleted the state"
[ -f "$root/etc/warren/config.toml" ] || fail "remove deleted the conffile"
[ ! -e "$root/usr/bin/warren" ] || fail "remove left /usr/bin/warren"
timeout 120 chroot "$root" dpkg -P warren
snapshot >"$work/after"
diff -u "$work/before" "$work/after" || fail "purge left the paths above"
diff -u "$work/group.before" "$root/etc/group" || fail "purge left the group"
left=$(cd "$root" && find . -name '*warren*' ! -path './var/lib/dpkg/*' ! -path './var/log/*')
[ -z "$left" ] || fail "purge left: $left"
echo "PackageE2eTest: PASS"
