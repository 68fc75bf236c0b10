#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every warren test:
#   1. g++ build, unit + integration + e2e tests (real QEMU guests under TCG,
#      each inside a network namespace the test creates)
#   2. the suite under ASan+UBSan, built with clang -Wthread-safety -Werror
#      and the libFuzzer targets in the same tree (one clang build, not two),
#      then under TSan (units and most e2e tests; run_suite below says which
#      e2e tests each leaves out and why)
#   3. libFuzzer targets, a short run each
# Usage: sudo bash scripts/test-all.sh      (WARREN_QUICK=1 skips steps 2-4)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
bash scripts/install-deps.sh

jobs=$(nproc)
# e2e tests share one cache of built images so the default image is built once per run.
export WARREN_TEST_CACHE=${WARREN_TEST_CACHE:-$top/build-cache}
mkdir -p "$WARREN_TEST_CACHE"

step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

# Three builds of the same tree: ccache (when installed) shares what does not
# change between runs. Nothing depends on it; a cold cache only builds slower.
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=$top
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# Debug information: line tables only (-g1; clang reads it as
# -gline-tables-only), which is what a sanitizer's report, a failed
# assertion's stack and gdb's backtrace of a hung test read. Full -g made a
# g++ -O2 compile half as long again (clang -O0: a sixth).
g1_release=(-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG")
g1_debug=(-DCMAKE_C_FLAGS_DEBUG=-g1 -DCMAKE_CXX_FLAGS_DEBUG=-g1)

run_suite() {  # dir, ctest exclude regex ("" = none), cmake args...
  local dir=$1 exclude=$2; shift 2
  cmake -S . -B "$dir" -G Ninja -DWARREN_BENCH=OFF "${launcher[@]}" "${g1_debug[@]}" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 900 ${exclude:+-E "$exclude"})
}

# The g++ suite runs every test. The sanitizer suites leave out e2e tests whose
# time goes to external tools and guest boots rather than to warren's own
# threads: image builds, the host/nat network modes (egress included), the stock
# cloud image, cp in a guest (cp_transfer_test covers its code), ssh/scp/rsync
# through `warren ssh-config` (OpenSSH's own processes and a guest boot), the capabilities on a guest (their hooks and relay have unit
# tests under both sanitizers) and the browser (chromium under a sanitized
# daemon adds minutes, not coverage), and the seed fed to other releases'
# cloud-init (SeedCloudInitTest: all its time is cloud-init in a chroot; the
# seed code it calls is pure and unit-tested under both), and the guest agent on a
# guest (its time is a boot and shell commands in the guest; guest_agent_test
# covers the host end under both sanitizers). TSan also leaves out the long
# single-threaded ones (kill-at-each-step, promote, 50 MiB through exec).
# The shim's e2e (ShimE2eTest) spends its minutes in containerd, ctr, a PTY
# helper (tty resize) and five TCG boots; the shim's own threads are covered by
# ttrpc_test and shim_test.
# AdmissionE2eTest (one guest boot and a refused create) is
# skipped by both: its time is the guest's and the kernel's, and the budget's
# arithmetic and races run under both sanitizers in memory_budget_test.
# Every unit test, the VM lifecycle/concurrency e2e tests and the session e2e
# tests run under all three.
san_skip='ImageBootTest|ImageRegistryE2eTest|VmHostModeE2eTest|VmNatModeE2eTest|StockCloudImageE2eTest'
san_skip="$san_skip|CapsE2eTest|PublishE2eTest|WebE2eTest|CpE2eTest|SeedCloudInitTest|ShimE2eTest"
san_skip="$san_skip|SshConfigE2eTest"
san_skip="$san_skip|AdmissionE2eTest|GuestAgentE2eTest"
# OomE2eTest's time is two guest boots and the kernel's OOM killer; the code it
# reaches (OnExit, the kernel-log scan) runs under both sanitizers in
# memory_budget_test and oom_test.
san_skip="$san_skip|OomE2eTest"
# DensityE2eTest's time is twelve guest boots; its concurrency (parallel creates
# against the memory budget) is memory_budget_test's under both sanitizers.
san_skip="$san_skip|DensityE2eTest"
# PackageE2eTest exists only in the g++ tree (WARREN_PACKAGE=ON below): its time
# goes to lintian, dpkg and one guest boot, and a sanitized binary is not what
# the package ships; named here so no sanitized tree ever runs it.
san_skip="$san_skip|PackageE2eTest"
# SnapshotE2eTest's time is QEMU's (migration, guest boot); its threads are
# the VM lifecycle's, which the VM e2e tests cover under TSan. The crash tests
# restart the daemon a dozen times: ASan runs them, TSan would only re-time it.
tsan_skip="$san_skip|VmCrashE2eTest|PromoteThenCreate|FiftyMiB|SnapshotE2eTest"
tsan_skip="$tsan_skip|SnapshotCrashE2eTest"

# Guests and roots some e2e tests need, made with mmdebstrap (not warren's
# builder) once and cached in $WARREN_TEST_CACHE (0 s when cached; each test
# also builds its own when missing). Cold, they are mostly downloads, so they
# run in the background while the g++ tree compiles:
#  - the stock Debian 12 cloud guest StockCloudImageE2eTest registers (2-4 min);
#  - Debian 11 and 13 roots holding their own cloud-init, for SeedCloudInitTest
#    (2-5 min each; 75: the mirror does not serve the release, and the test
#    then skips it loudly).
prepare_roots() {
  bash scripts/build-stock-cloud-image.sh "$WARREN_TEST_CACHE/stock-debian12-cloud"
  for suite in bullseye trixie; do
    bash scripts/build-cloud-init-root.sh "$suite" "$WARREN_TEST_CACHE/cloud-init-root-$suite" ||
      [ $? = 75 ]
  done
}
step "stock cloud image and cloud-init roots (background, cached in \$WARREN_TEST_CACHE)"
roots_log=$(mktemp)
prepare_roots >"$roots_log" 2>&1 &
roots_pid=$!

step "build + tests (g++)"
# With the package's extras (completion, man page, unit, config) so
# PackageE2eTest can package this very build.
cmake -S . -B build-ci -G Ninja -DWARREN_BENCH=OFF "${launcher[@]}" "${g1_release[@]}" \
  -DWARREN_PACKAGE=ON -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build build-ci -j"$jobs"
roots_ok=0
wait "$roots_pid" || roots_ok=$?
cat "$roots_log"
rm -f "$roots_log"
if [ "$roots_ok" != 0 ]; then
  echo "test-all: making the stock cloud image or the cloud-init roots failed (above)" >&2
  exit 1
fi
(cd build-ci && ctest --output-on-failure -j"$jobs" --timeout 900)
if [ "${WARREN_QUICK:-0}" = 1 ]; then exit 0; fi

step "ASan + UBSan (clang, -Wthread-safety -Werror, fuzzers built alongside)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_suite build-ci-asan "$san_skip" -DCMAKE_BUILD_TYPE=Debug -DWARREN_SANITIZE=address \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DWARREN_THREAD_SAFETY=ON -DWARREN_FUZZ=ON

step "TSan"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  run_suite build-ci-tsan "$tsan_skip" -DCMAKE_BUILD_TYPE=Debug -DWARREN_SANITIZE=thread

step "fuzzers (built by the ASan step)"
# Each target starts from its in-tree corpus (fuzz/corpus/<target>/, what earlier
# runs found); new inputs go to a temporary directory, never into the tree.
# To fold a run's finds back in: <target> -merge=1 fuzz/corpus/<target> <new dir>.
# One target per core at a time; each prints its summary (its whole tail when
# it found something) in one piece when it ends.
fuzz_one() {  # target
  local f=$1 seeds found log rc=0
  seeds="fuzz/corpus/$(basename "$f")"
  [ -d "$seeds" ] || seeds=""
  found=$(mktemp -d)
  log=$(mktemp)
  "$f" -max_total_time="${WARREN_FUZZ_SECONDS:-20}" -print_final_stats=1 "$found" $seeds \
    >"$log" 2>&1 || rc=$?
  printf '%s\n%s\n' "--- $(basename "$f") (exit $rc)" "$(tail -n "$([ $rc = 0 ] && echo 3 || echo 60)" "$log")"
  rm -rf "$found" "$log"
  return "$rc"
}
export -f fuzz_one
printf '%s\0' build-ci-asan/fuzz/*_fuzz | xargs -0 -P "$jobs" -I{} bash -c 'fuzz_one "$1"' _ {}
step "all tests passed"
