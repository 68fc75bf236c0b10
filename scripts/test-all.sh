#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every warren test:
#   1. g++ build, unit + integration + e2e tests (real QEMU guests under TCG,
#      each inside a network namespace the test creates)
#   2. the suite under ASan+UBSan, then under TSan (units and most e2e tests;
#      run_suite below says which e2e tests each leaves out and why)
#   3. a clang build with -Wthread-safety -Werror (compile only)
#   4. libFuzzer targets, a short run each
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

# Four builds of the same tree: ccache (when installed) shares what does not
# change between runs. Nothing depends on it; a cold cache only builds slower.
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=$top
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

run_suite() {  # dir, ctest exclude regex ("" = none), cmake args...
  local dir=$1 exclude=$2; shift 2
  cmake -S . -B "$dir" -G Ninja -DWARREN_BENCH=OFF "${launcher[@]}" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 900 ${exclude:+-E "$exclude"})
}

# The g++ suite runs every test. The sanitizer suites leave out e2e tests whose
# time goes to external tools and guest boots rather than to warren's own
# threads: image builds, the host/nat network modes (egress included), the stock
# cloud image, cp in a guest (cp_transfer_test covers its code), the capabilities on a guest (their hooks and relay have unit
# tests under both sanitizers) and the browser (chromium under a sanitized
# daemon adds minutes, not coverage), and the guest agent on a guest (its time
# is a boot and shell commands in the guest; guest_agent_test covers the host
# end under both sanitizers). TSan also leaves out the long
# single-threaded ones (kill-at-each-step, promote, 50 MiB through exec).
# Every unit test, the VM lifecycle/concurrency e2e tests and the session e2e
# tests run under all three.
san_skip='ImageBootTest|ImageRegistryE2eTest|VmHostModeE2eTest|VmNatModeE2eTest|StockCloudImageE2eTest'
san_skip="$san_skip|CapsE2eTest|PublishE2eTest|WebE2eTest|CpE2eTest|GuestAgentE2eTest"
tsan_skip="$san_skip|VmCrashE2eTest|PromoteThenCreate|FiftyMiB"

# The stock Debian 12 cloud guest that StockCloudImageE2eTest registers: built
# with mmdebstrap (not warren's builder) once, then reused (2-4 min cold, 0 s
# cached; the test builds it itself when missing).
step "stock cloud image (cached in \$WARREN_TEST_CACHE)"
bash scripts/build-stock-cloud-image.sh "$WARREN_TEST_CACHE/stock-debian12-cloud"

step "build + tests (g++)"
run_suite build-ci ""
if [ "${WARREN_QUICK:-0}" = 1 ]; then exit 0; fi

step "ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_suite build-ci-asan "$san_skip" -DCMAKE_BUILD_TYPE=Debug -DWARREN_SANITIZE=address

step "TSan"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  run_suite build-ci-tsan "$tsan_skip" -DCMAKE_BUILD_TYPE=Debug -DWARREN_SANITIZE=thread

step "clang -Wthread-safety (compile only) + fuzzers"
cmake -S . -B build-ci-clang -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  "${launcher[@]}" -DWARREN_THREAD_SAFETY=ON -DWARREN_FUZZ=ON -DWARREN_TESTS=OFF -DWARREN_BENCH=OFF >/dev/null
cmake --build build-ci-clang -j"$jobs"
# Each target starts from its in-tree corpus (fuzz/corpus/<target>/, what earlier
# runs found); new inputs go to a temporary directory, never into the tree.
# To fold a run's finds back in: <target> -merge=1 fuzz/corpus/<target> <new dir>.
for f in build-ci-clang/fuzz/*_fuzz; do
  [ -x "$f" ] || continue
  seeds="fuzz/corpus/$(basename "$f")"
  found=$(mktemp -d)
  [ -d "$seeds" ] || seeds=""
  "$f" -max_total_time="${WARREN_FUZZ_SECONDS:-30}" -print_final_stats=1 "$found" $seeds 2>&1 |
    tail -n 3
  rm -rf "$found"
done
step "all tests passed"
