#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain. Idempotent and quick when everything is there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Chromium: the diff engine's HTML report is rendered in a real headless browser by
# harness/diff/tests/html_browser.rs.
if [ ! -x /usr/bin/chromium ]; then
  echo "install-test-deps: installing chromium (for the HTML report test)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  [ -x /usr/bin/chromium ] || { echo "install-test-deps: chromium did not install to /usr/bin/chromium" >&2; exit 1; }
fi
