#!/bin/sh
# Installs the browser e2e's driver, playwright-core, into a cache directory
# outside the repository (never its own browsers: the test drives Debian's
# /usr/bin/chromium). Prints the directory whose node_modules holds it.
#   install-driver.sh [firefox]   with "firefox": puppeteer-core too, for the
#                                 opt-in Firefox run (Debian's firefox-esr)
#   WARREN_WEB_E2E_CACHE  where to install (default ~/.cache/warren/web-e2e)
set -eu
PLAYWRIGHT_VERSION=1.65.1
PUPPETEER_VERSION=24.43.1
dir=${WARREN_WEB_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/warren/web-e2e}
mkdir -p "$dir"
if [ ! -f "$dir/node_modules/playwright-core/package.json" ] ||
   ! grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$dir/node_modules/playwright-core/package.json"; then
  # playwright-core ships no browser and downloads none on install.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir" --no-audit --no-fund \
    --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION" >&2
fi
if [ "${1:-}" = firefox ] && ! command -v firefox-esr >/dev/null; then
  apt-get install -y -qq --no-install-recommends firefox-esr >&2  # only for the opt-in run
fi
if [ "${1:-}" = firefox ] && { [ ! -f "$dir/node_modules/puppeteer-core/package.json" ] ||
   ! grep -q "\"version\": \"$PUPPETEER_VERSION\"" "$dir/node_modules/puppeteer-core/package.json"; }; then
  # puppeteer-core downloads no browser either; it drives firefox-esr over WebDriver BiDi.
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
    "playwright-core@$PLAYWRIGHT_VERSION" "puppeteer-core@$PUPPETEER_VERSION" >&2
fi
echo "$dir"
