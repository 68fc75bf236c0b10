#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every warren test:
#   1. g++ build, unit + integration + e2e tests (real QEMU guests under TCG,
#      each inside a network namespace the test creates)
#   2. the same suite under ASan+UBSan, then under TSan (e2e tests included)
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

run_suite() {  # dir, cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DWARREN_BENCH=OFF "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 900)
}

step "build + tests (g++)"
run_suite build-ci
if [ "${WARREN_QUICK:-0}" = 1 ]; then exit 0; fi

step "ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_suite build-ci-asan -DCMAKE_BUILD_TYPE=Debug -DWARREN_SANITIZE=address

step "TSan"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  run_suite build-ci-tsan -DCMAKE_BUILD_TYPE=Debug -DWARREN_SANITIZE=thread

step "clang -Wthread-safety (compile only) + fuzzers"
cmake -S . -B build-ci-clang -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DWARREN_THREAD_SAFETY=ON -DWARREN_FUZZ=ON -DWARREN_TESTS=OFF -DWARREN_BENCH=OFF >/dev/null
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
