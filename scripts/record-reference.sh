#!/usr/bin/env bash
# Regenerates the reference captures of upstream Codex for the whole scenario suite, with `parity record` only:
# installs the pinned upstream (scripts/install-upstream.sh), builds parity, records every scenario of
# fixtures/scenarios into captures/codex-<version>/, replacing what was there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
version="${CODEX_UPSTREAM_VERSION:-0.169.0}"
upstream="$(scripts/install-upstream.sh)"
cargo build --release --quiet -p parity-cli
out="captures/codex-$version"
target/release/parity record --all --agent codex --upstream-bin "$upstream" --out "$out" --clean "$@"
echo "reference captures of codex $version are in $out" >&2
