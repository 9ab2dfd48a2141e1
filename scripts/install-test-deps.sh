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

# Bubblewrap: upstream Codex runs its sandboxed commands through it, and without it on PATH upstream warns
# (configWarning) and falls back to a bundled copy. The reference captures were recorded on a host that meets
# upstream's prerequisites, so the tests that run upstream (tests/tests/upstream.rs, the SDK tests) need it too.
if ! command -v bwrap >/dev/null; then
  echo "install-test-deps: installing bubblewrap (upstream Codex's sandbox prerequisite)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
  command -v bwrap >/dev/null || { echo "install-test-deps: bubblewrap did not install" >&2; exit 1; }
fi

# The real SDK clients that tests/tests/sdk_*.rs drive against a chosen agent binary (issue 12), each in an ignored
# folder of the repository, nothing global. A stamp of the pins makes a second run instant; a changed pin reinstalls.
#
# .venv-sdk/: the official Python SDK (`openai-codex`, import `openai_codex`) and `codex-python-sdk` (import
# `codex_python_sdk`), in a virtual environment of the machine's Python 3.11. openai-codex requires
# `openai-codex-cli-bin`, a 140 MB wheel holding a Codex 0.163.0 binary: it is left out (--no-deps, with the other
# requirements pinned here), since the tests name the binary themselves (`CodexConfig(codex_bin=...)`).
sdk_python_pins="openai-codex==0.163.0 codex-python-sdk==0.2.1 pydantic==2.14.4 pydantic_core==2.50.5
annotated-types==0.8.0 typing-inspection==0.4.5 typing_extensions==4.16.0 packaging==26.4"
venv="$root/.venv-sdk"
if [ "$(cat "$venv/.parity-pins" 2>/dev/null)" != "$sdk_python_pins" ]; then
  echo "install-test-deps: installing the Python SDKs into .venv-sdk/" >&2
  python="$(command -v python3.11 || command -v python3)" || { echo "install-test-deps: python3 is missing" >&2; exit 1; }
  rm -rf "$venv"
  "$python" -m venv "$venv"
  # shellcheck disable=SC2086 # the pins are words
  "$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check --no-deps $sdk_python_pins
  "$venv/bin/python" -c 'import openai_codex, codex_python_sdk' >&2
  printf '%s' "$sdk_python_pins" >"$venv/.parity-pins"
fi

# .sdk-node/: the TypeScript SDK, `@openai/codex-sdk`. npm has no 0.169.0 of it: 0.163.0 is the newest release
# (and the one the Python SDK's version matches), so it is pinned. Its dependency `@openai/codex@0.163.0` brings the
# platform binaries as optional dependencies; they are left out (--omit=optional): the tests pass
# `codexPathOverride`. npm's cache and config stay inside the folder.
sdk_node_pins="@openai/codex-sdk@0.163.0"
node_dir="$root/.sdk-node"
if [ "$(cat "$node_dir/.parity-pins" 2>/dev/null)" != "$sdk_node_pins" ]; then
  echo "install-test-deps: installing the TypeScript SDK into .sdk-node/" >&2
  command -v npm >/dev/null || { echo "install-test-deps: npm is missing" >&2; exit 1; }
  rm -rf "$node_dir"
  mkdir -p "$node_dir"
  : >"$node_dir/.npmrc"
  (
    export npm_config_cache="$node_dir/.npm-cache" npm_config_userconfig="$node_dir/.npmrc"
    export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
    # shellcheck disable=SC2086
    npm install --prefix "$node_dir" --no-save --no-package-lock --omit=optional --loglevel=error $sdk_node_pins >&2
  )
  rm -rf "$node_dir/.npm-cache"
  [ -f "$node_dir/node_modules/@openai/codex-sdk/dist/index.js" ] \
    || { echo "install-test-deps: @openai/codex-sdk did not install" >&2; exit 1; }
  printf '%s' "$sdk_node_pins" >"$node_dir/.parity-pins"
fi
