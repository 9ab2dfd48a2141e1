#!/usr/bin/env bash
# Records the JSON Schema of upstream Codex's app-server protocol (`codex app-server generate-json-schema`) into
# captures/codex-<version>/app-server-schema/, replacing what was there. This is how the protocol enters the project:
# as data recorded from the pinned release, never written by hand. scripts/record-reference.sh runs it too.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
version="${CODEX_UPSTREAM_VERSION:-0.169.0}"
upstream="${PARITY_UPSTREAM_BIN:-$(scripts/install-upstream.sh)}"
out="captures/codex-$version/app-server-schema"
mkdir -p "$(dirname "$out")"
# Written beside the old one, then swapped in: an interrupted run leaves the old schema whole.
home="$(mktemp -d /var/tmp/parity-schema-home.XXXXXX)"
next="$(mktemp -d "$(dirname "$out")/.app-server-schema.XXXXXX")"
trap 'rm -rf "$home" "$next"' EXIT
env -i PATH=/usr/bin:/bin HOME="$home" CODEX_HOME="$home" TZ=UTC LANG=C.UTF-8 \
  "$upstream" app-server generate-json-schema --out "$next" </dev/null >/dev/null
[ -f "$next/ClientRequest.json" ] || { echo "record-app-server-schema: no ClientRequest.json was written" >&2; exit 1; }
rm -rf "$out"
mv "$next" "$out"
echo "app-server protocol schema of codex $version is in $out ($(find "$out" -name '*.json' | wc -l) files)" >&2
