#!/bin/sh
# rpc_gen_check.sh RPC_GEN SOURCE_DIR: regenerates docs/RPC.md and web/gen/rpc.js
# into a scratch directory and fails, showing the diff, when the committed ones differ.
set -u
gen="$1"
src="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp" || exit 1
status=0
for f in docs/RPC.md web/gen/rpc.js; do
  if ! diff -u "$src/$f" "$tmp/$f"; then
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "rpc_gen_drift: docs/RPC.md or web/gen/rpc.js no longer match the dispatch table." >&2
  echo "Refresh them with: ninja -C build rpc_docs   (then commit both files)" >&2
fi
exit "$status"
