#!/usr/bin/env bash
# The main job on the bundled default: builds parity and rcodex, then checks rcodex against the reference captures of
# upstream Codex 0.169.0 (captures/codex-0.169.0), scenario by scenario, with the project's accepted divergences.
# Needs neither network nor upstream: each scenario is run against parity's scripted server and compared with the
# recorded baseline. Extra arguments go to `parity check` (e.g. `--only plain-reply`, `--report-dir reports/`).
# Every scenario, exec, app server and tui alike, event streams included (`exec --json` and the app server's
# notifications are compared with upstream's).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release --locked --quiet --bin parity --bin rcodex
exec target/release/parity check --agent rcodex --baseline captures/codex-0.169.0 \
  --accept fixtures/accepted/rcodex.toml "$@"
