#!/usr/bin/env bash
# The project's test command: installs what the tests need (from the project's own scripts), builds the binaries
# the end-to-end tests drive (parity, rcodex, the fake agent), then runs every test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install-test-deps.sh
# A CI machine builds once: incremental compilation data would only take disk (tens of GB for this workspace).
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
cargo build --workspace --bins --locked
exec cargo test --workspace --locked "$@"
