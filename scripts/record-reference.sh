#!/usr/bin/env bash
# Regenerates the reference captures of upstream Codex for the whole scenario suite, with `parity record` only:
# installs the pinned upstream (scripts/install-upstream.sh), builds parity, records every scenario of
# fixtures/scenarios into captures/codex-<version>/, replacing what was there, records upstream's model catalog
# (`codex debug models`) beside them as models.json, its app-server protocol schema as app-server-schema/, and extracts rcodex's prompt pack from them (`parity pack`,
# into agent/prompt-pack/data/pack.json, with the keyword lists its tool search indexes the multi-agent tools by,
# read out of the binary).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
version="${CODEX_UPSTREAM_VERSION:-0.169.0}"
upstream="$(scripts/install-upstream.sh)"
cargo build --release --quiet -p parity-cli
out="captures/codex-$version"
target/release/parity record --all --agent codex --upstream-bin "$upstream" --out "$out" --clean "$@"

# The model catalog upstream prints (instructions, tool types, defaults per model), recorded with an isolated home
# so that nothing of this machine's configuration shapes it.
home="$(mktemp -d /var/tmp/parity-catalog.XXXXXX)"
trap 'rm -rf "$home"' EXIT
env -i PATH=/usr/bin:/bin HOME="$home" CODEX_HOME="$home" TZ=UTC LANG=C.UTF-8 "$upstream" debug models \
  > "$out/models.json.tmp" </dev/null
mv "$out/models.json.tmp" "$out/models.json"
echo "reference captures of codex $version are in $out" >&2

# The app-server protocol's JSON Schema, which parity validates JSON-RPC traffic against.
PARITY_UPSTREAM_BIN="$upstream" scripts/record-app-server-schema.sh

target/release/parity pack --baseline "$out" --scenarios fixtures/scenarios --out agent/prompt-pack/data/pack.json \
  --upstream-bin "$upstream"
