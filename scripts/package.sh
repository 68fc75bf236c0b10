#!/usr/bin/env bash
# Builds the Debian package: a release build of warren (in build-package/, so a
# developer's build/ is left alone) with the installed extras on, then
# packaging/make-deb.sh. Usage: scripts/package.sh [OUTDIR]   (default: dist/)
# Needs scripts/install-deps.sh's packages (help2man, dpkg-dev); check the
# result with `lintian dist/warren_*.deb`.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
outdir=${1:-$top/dist}
build=${WARREN_PACKAGE_BUILD:-$top/build-package}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
# Debian's build flags (hardening: fortify, bindnow, stack protector), as a
# Debian package build would use them; cmake reads them at configure time.
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
export CFLAGS="$CPPFLAGS $CFLAGS" CXXFLAGS="$CPPFLAGS $CXXFLAGS"  # cmake reads no CPPFLAGS
cmake -S . -B "$build" -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX=/usr -DWARREN_PACKAGE=ON -DWARREN_TESTS=OFF -DWARREN_BENCH=OFF >/dev/null
cmake --build "$build" -j"${WARREN_JOBS:-$(nproc)}" --target warren warren_dist_files
deb=$(packaging/make-deb.sh "$build" "$outdir")
echo "package.sh: $deb"
