#!/usr/bin/env bash
# The project's test command: installs what the tests need (from the project's own scripts), builds the binaries
# the end-to-end tests drive (parity, rcodex, the fake agent), runs every test, then a short fuzzing pass over every
# parser of outside input (scripts/fuzz.sh, 8 s a target: about a minute; PARITY_FUZZ_SECONDS=0 skips it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install-test-deps.sh
# A CI machine builds once: incremental compilation data would only take disk (tens of GB for this workspace).
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
fuzz_seconds="${PARITY_FUZZ_SECONDS:-8}"
# The short pass builds its targets at opt-level 1: most of its time is the build (every dependency of rcodex-core,
# instrumented), which opt-level 1 roughly halves; seconds of fuzzing gain little from full optimization.
if [ "$fuzz_seconds" != 0 ]; then
  CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-1}" PARITY_FUZZ_SECONDS="$fuzz_seconds" scripts/fuzz.sh
fi
