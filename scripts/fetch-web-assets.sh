#!/usr/bin/env bash
# Fetches the web UI's third-party files into web/vendor/ (not committed; the
# build embeds them into the daemon). npm installs into a cache outside the
# repository ($WARREN_WEB_CACHE, default ~/.cache/warren-web) so the source tree
# holds no node_modules; versions are pinned so every build embeds the same bytes.
# Debian's libjs-xterm is too old (no @xterm scope, no addon-fit of this API).
set -euo pipefail
XTERM_VERSION=5.5.0
FIT_VERSION=0.10.0
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${WARREN_WEB_CACHE:-${HOME:-/root}/.cache/warren-web}"
vendor="$repo/web/vendor"
if ! command -v npm >/dev/null; then
  echo "fetch-web-assets: npm is missing; install Debian's npm (scripts/install-deps.sh does)" >&2
  exit 2
fi
mkdir -p "$cache"
if [ ! -f "$cache/node_modules/@xterm/xterm/package.json" ] ||
   ! grep -q "\"version\": \"$XTERM_VERSION\"" "$cache/node_modules/@xterm/xterm/package.json" ||
   ! grep -q "\"version\": \"$FIT_VERSION\"" "$cache/node_modules/@xterm/addon-fit/package.json"; then
  (cd "$cache" && [ -f package.json ] || echo '{"private": true}' > "$cache/package.json")
  npm install --prefix "$cache" --no-audit --no-fund --save-exact \
    "@xterm/xterm@$XTERM_VERSION" "@xterm/addon-fit@$FIT_VERSION" >&2
fi
mkdir -p "$vendor"
install -m 0644 "$cache/node_modules/@xterm/xterm/lib/xterm.js" "$vendor/xterm.js"
install -m 0644 "$cache/node_modules/@xterm/xterm/css/xterm.css" "$vendor/xterm.css"
install -m 0644 "$cache/node_modules/@xterm/addon-fit/lib/addon-fit.js" "$vendor/addon-fit.js"
echo "fetch-web-assets: @xterm/xterm $XTERM_VERSION and @xterm/addon-fit $FIT_VERSION in web/vendor/"
