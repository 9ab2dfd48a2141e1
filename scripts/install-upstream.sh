#!/usr/bin/env bash
# Installs the pinned upstream Codex CLI into .upstream/ of this repository (git-ignored) and prints the path of
# its native binary. Touches no global state: npm's cache and prefix are kept inside .upstream/ too.
# Idempotent: when the pinned version is already there, it only prints the path.
set -euo pipefail

version="${CODEX_UPSTREAM_VERSION:-0.169.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.upstream/codex-$version"

case "$(uname -m)" in
  x86_64 | amd64) platform=linux-x64 triple=x86_64-unknown-linux-musl ;;
  aarch64 | arm64) platform=linux-arm64 triple=aarch64-unknown-linux-musl ;;
  *) echo "install-upstream: unsupported machine $(uname -m)" >&2; exit 2 ;;
esac
bin="$dest/node_modules/@openai/codex-$platform/vendor/$triple/bin/codex"

if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "codex-cli $version" ]; then
  echo "$bin"
  exit 0
fi

command -v npm >/dev/null || { echo "install-upstream: npm is not installed" >&2; exit 3; }
mkdir -p "$dest"
# A private cache and no global config: nothing outside .upstream/ changes.
: >"$dest/.npmrc"
export npm_config_cache="$dest/.npm-cache" npm_config_userconfig="$dest/.npmrc"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
if ! npm install --prefix "$dest" --no-save --no-package-lock --loglevel=error \
    "@openai/codex@$version" "@openai/codex-$platform@npm:@openai/codex@$version-$platform" >&2; then
  echo "install-upstream: npm could not install @openai/codex@$version (is the npm registry reachable?)" >&2
  exit 3
fi
[ -x "$bin" ] || { echo "install-upstream: expected binary missing: $bin" >&2; exit 3; }
echo "$bin"
