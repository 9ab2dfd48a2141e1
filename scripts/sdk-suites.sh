#!/usr/bin/env bash
# Runs upstream Codex's own SDK test suites against an agent binary and prints their pass/fail counts:
#
#   - the TypeScript SDK's jest suite (sdk/typescript/tests: 44 tests), the binary substituted through
#     CODEX_EXEC_PATH, as upstream's tests/testCodex.ts reads it;
#   - the official Python SDK's app-server tests (sdk/python/tests/test_app_server_*.py: 40 tests), the binary
#     substituted through a stand-in for the `codex_cli_bin` package, whose bundled_codex_path() the SDK asks for
#     the binary when CodexConfig names none (as the suite's AppServerHarness does).
#
#   scripts/sdk-suites.sh [upstream|rcodex|PATH]...      (both upstream and rcodex when none is given)
#
# The suites are taken at a pinned upstream commit into .sdk-suites/ (git-ignored; no upstream code is committed to
# this repository): from a local git mirror of the upstream repository that holds the commit (CODEX_GIT_MIRROR, or
# any under /work/.mirror/, where this workplace's search tool fetches repositories), else as the commit's tarball
# from GitHub. Their tooling (jest, ts-jest, TypeScript; pytest, pydantic) is installed from npm and PyPI at pinned
# versions into .sdk-suites/ too. Nothing global changes. A second run reuses all of it.
#
# The pinned commit: upstream main of 2026-08-19, "Stop treating Git commands as inherently safe (#39524)", the
# parent of "Release 0.149.0-alpha.3". The commit of the tag rust-v0.169.0 could not be resolved from this
# workplace (GitHub is not reachable from it and the search tool's copy of openai/codex is over its size limit; the
# mirrors it could fetch end in August 2026), so the suites are those of this commit: the TypeScript suite has the
# 44 tests upstream 0.169.0 was measured with (issue 12), and the Python suite's app-server tests are 40, of which
# upstream 0.169.0 passes 38 as issue 12 says. CODEX_SUITE_COMMIT=<sha> takes the suites at another commit (a
# machine that reaches GitHub can name the release's).
#
# rcodex is target/debug/rcodex (RCODEX_BIN overrides it): build it first (`cargo build --workspace --bins`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
commit="${CODEX_SUITE_COMMIT:-3b45c29062ff0e76e71c91b6753290400e7fa8da}"
dir="$root/.sdk-suites"
src="$dir/src-$commit"
results="$dir/results"
mkdir -p "$dir" "$results"

say() { echo "sdk-suites: $*" >&2; }

# --- the suites' sources, at the pinned commit ---------------------------------------------------------------------
if [ ! -f "$src/.complete" ]; then
  rm -rf "$src"
  mkdir -p "$src"
  fetched=""
  for mirror in ${CODEX_GIT_MIRROR:-} /work/.mirror/*/repo; do
    [ -d "$mirror" ] || continue
    if git --git-dir="$mirror" cat-file -e "$commit^{commit}" 2>/dev/null; then
      say "taking sdk/typescript and sdk/python at $commit from the git mirror $mirror"
      git --git-dir="$mirror" archive "$commit" sdk/typescript sdk/python | tar -x -C "$src"
      fetched="$mirror"
      break
    fi
  done
  if [ -z "$fetched" ]; then
    url="https://codeload.github.com/openai/codex/tar.gz/$commit"
    say "no local mirror holds $commit; downloading $url"
    if ! curl -fsSL --max-time 300 "$url" | tar -xz -C "$src" --strip-components=1 \
        "codex-$commit/sdk/typescript" "codex-$commit/sdk/python"; then
      say "could not get upstream's sdk/ at $commit: set CODEX_GIT_MIRROR to a git directory of the upstream"
      say "repository that holds it (fetch one with the search tool), or run where GitHub is reachable"
      rm -rf "$src"
      exit 3
    fi
  fi
  # Upstream runs the suites inside its repository: exec refuses a working directory outside a git repository
  # ("Not inside a trusted directory") unless told to skip the check, and some tests count on either.
  git -C "$src" init -q
  echo "$commit" >"$src/.complete"
fi

# --- the TypeScript suite's tooling: its devDependencies that the tests load, pinned -----------------------------------
# Left out: @modelcontextprotocol/conformance, a git dependency, needed only by tests/mcpConformance.test.ts, which
# runs MCP conformance servers from the repository's scripts/ (not the SDK against a binary): that file is not run.
ts_pins="jest@29.7.0 ts-jest@29.4.15 ts-jest-mock-import-meta@1.3.1 typescript@5.9.3 @types/node@20.19.18
@types/jest@29.5.14 @modelcontextprotocol/sdk@1.24.0"
ts_deps="$dir/ts-deps"
if [ "$(cat "$ts_deps/.parity-pins" 2>/dev/null)" != "$ts_pins" ]; then
  say "installing the TypeScript suite's tooling into .sdk-suites/ts-deps/"
  rm -rf "$ts_deps"
  mkdir -p "$ts_deps"
  echo '{"name": "parity-sdk-suite-deps", "private": true}' >"$ts_deps/package.json"
  : >"$ts_deps/.npmrc"
  (
    export npm_config_cache="$ts_deps/.npm-cache" npm_config_userconfig="$ts_deps/.npmrc"
    export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
    # shellcheck disable=SC2086 # the pins are words
    npm install --prefix "$ts_deps" --no-save --no-package-lock --ignore-scripts --loglevel=error $ts_pins >&2
  )
  rm -rf "$ts_deps/.npm-cache"
  printf '%s' "$ts_pins" >"$ts_deps/.parity-pins"
fi
ln -sfn "$ts_deps/node_modules" "$src/sdk/typescript/node_modules"

# --- the Python suite's tooling, and the stand-in for the SDK's bundled binary -----------------------------------------
py_pins="pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
typing_extensions==4.16.0 packaging==26.4 pytest==8.4.2 pluggy==1.7.0 iniconfig==2.3.1 Pygments==2.21.0"
venv="$dir/py-venv"
if [ "$(cat "$venv/.parity-pins" 2>/dev/null)" != "$py_pins" ]; then
  say "installing the Python suite's tooling into .sdk-suites/py-venv/"
  rm -rf "$venv"
  "$(command -v python3.11 || command -v python3)" -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check --no-deps $py_pins
  printf '%s' "$py_pins" >"$venv/.parity-pins"
fi
shim="$dir/py-shim"
mkdir -p "$shim/codex_cli_bin"
cat >"$shim/codex_cli_bin/__init__.py" <<'EOF'
"""Stands in for the `openai-codex-cli-bin` package: the binary the SDK runs when CodexConfig names none is the one
scripts/sdk-suites.sh names in PARITY_SDK_BIN."""
import os
from pathlib import Path


def bundled_codex_path() -> Path:
    return Path(os.environ["PARITY_SDK_BIN"])


def bundled_path_dir() -> Path | None:
    return None
EOF

# --- each agent ------------------------------------------------------------------------------------------------------
binary_of() {
  case "$1" in
    upstream | codex) "$root/scripts/install-upstream.sh" ;;
    rcodex)
      local bin="${RCODEX_BIN:-$root/target/debug/rcodex}"
      [ -x "$bin" ] || { say "$bin is not built: run cargo build --workspace --bins"; return 1; }
      echo "$bin"
      ;;
    *) [ -x "$1" ] || { say "$1: neither upstream, rcodex nor an executable"; return 1; }; echo "$1" ;;
  esac
}

# The suites see a plain environment: their own HOME, nothing of the caller's keys or Codex settings.
suite_path=/usr/local/bin:/usr/bin:/bin
clean_env() {
  env -i PATH="$suite_path" HOME="$dir/home" LANG=C.UTF-8 TERM=dumb CI=true "$@"
}

summary=()
[ $# -gt 0 ] || set -- upstream rcodex
for agent in "$@"; do
  bin="$(binary_of "$agent")"
  name="$(basename "$agent")"
  suite_path=/usr/local/bin:/usr/bin:/bin
  case "$agent" in
    upstream | codex)
      # Upstream runs its filesystem sandbox helper as `codex-linux-sandbox`, an alias of itself it makes under
      # CODEX_HOME, except when CODEX_HOME is under the temporary directory, where the suites' tests put theirs
      # ("Refusing to create helper binaries under temporary dir"): with bubblewrap installed, a test whose
      # permissions need the helper then fails (`bwrap: execvp codex-linux-sandbox`). The alias is on PATH instead.
      mkdir -p "$dir/upstream-helpers"
      ln -sfn "$bin" "$dir/upstream-helpers/codex-linux-sandbox"
      suite_path="$dir/upstream-helpers:$suite_path"
      ;;
  esac
  mkdir -p "$dir/home"
  say "$name: the TypeScript suite (jest), with CODEX_EXEC_PATH=$bin"
  ts_json="$results/typescript-$name.json"
  rm -f "$ts_json"
  (cd "$src/sdk/typescript" && clean_env CODEX_EXEC_PATH="$bin" timeout 900 node node_modules/jest/bin/jest.js \
    --ci --testPathIgnorePatterns mcpConformance --json --outputFile="$ts_json") >"$results/typescript-$name.log" 2>&1 || true
  ts_line="$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const reasons = new Map();
    const note = (why) => reasons.set(why, (reasons.get(why) || 0) + 1);
    for (const s of r.testResults) {
      for (const a of s.assertionResults.filter((a) => a.status === "failed")) {
        const text = (a.failureMessages[0] || "").replace(/\u001b\[[0-9;]*m/g, "");
        const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !/^[>|\d]/.test(l));
        note(`${a.title}: ${lines.slice(0, 3).join(" / ")}`.slice(0, 300));
      }
      if (s.status === "failed" && s.assertionResults.length === 0) note((s.message || "").trim().split("\n")[0]);
    }
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed of ${r.numTotalTests}`);
    for (const [why, n] of reasons) console.log(`    ${n} x ${why}`);
  ' "$ts_json" 2>/dev/null || echo "no result (see $results/typescript-$name.log)")"

  say "$name: the Python suite (pytest, tests/test_app_server_*.py)"
  py_xml="$results/python-$name.xml"
  rm -f "$py_xml"
  (cd "$src/sdk/python" && clean_env PARITY_SDK_BIN="$bin" PYTHONPATH="$shim" PYTHONDONTWRITEBYTECODE=1 \
    timeout 900 "$venv/bin/python" -m pytest -p no:cacheprovider -q --junitxml="$py_xml" tests/test_app_server_*.py) \
    >"$results/python-$name.log" 2>&1 || true
  py_line="$("$venv/bin/python" - "$py_xml" <<'EOF' 2>/dev/null || echo "no result"
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
total = int(suite.get("tests"))
bad = int(suite.get("failures")) + int(suite.get("errors"))
skipped = int(suite.get("skipped"))
print(f"{total - bad - skipped} passed, {bad} failed of {total}" + (f", {skipped} skipped" if skipped else ""))
reasons: dict[str, int] = {}
for case in suite.iter("testcase"):
    for outcome in list(case.findall("failure")) + list(case.findall("error")):
        message = (outcome.get("message") or "").strip().splitlines()
        why = message[0][:300] if message else "(no message)"
        reasons[why] = reasons.get(why, 0) + 1
for why, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
    print(f"    {n} x {why}")
EOF
)"
  summary+=("$name: typescript suite $ts_line" "$name: python suite $py_line")
done

echo "upstream SDK suites at $commit"
for line in "${summary[@]}"; do echo "$line"; done
echo "logs and reports: $results"
