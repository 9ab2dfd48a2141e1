#!/usr/bin/env bash
# Fuzzes every parser that reads outside input (fuzz/src/lib.rs says what each target checks): the SSE codec, the
# script loader (JSON and TOML), the capture loader, the diff's rules and accept files, the apply-patch grammar and
# the shell-patch recognizer, rcodex's config loader, and the app server's JSON-RPC framing.
#
#   scripts/fuzz.sh                      # every target for 60 s
#   scripts/fuzz.sh --seconds 600 patch  # one target, ten minutes
#   PARITY_FUZZ_SECONDS=8 scripts/fuzz.sh  # what scripts/test.sh runs: about a minute in all
#
# libFuzzer targets (libfuzzer-sys), built on the stable toolchain with its coverage instrumentation, into
# target/fuzz. Each target's corpus (target/fuzz/corpus/TARGET, kept between runs) is seeded every run from the
# repository: scenario scripts, reference captures and transcripts, apply-patch cases, fuzz/seeds. The inputs in
# fuzz/regressions/TARGET (crashes found before) are replayed first. A crash stops the script with exit 1, naming
# the input saved under target/fuzz/artifacts/TARGET: copy it to fuzz/regressions/TARGET and add a test where the
# parser lives.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${PARITY_FUZZ_SECONDS:-60}"
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all=(sse script capture diff_files patch config jsonrpc)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for target in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $target "* ]] || { echo "fuzz: no target $target (targets: ${all[*]})" >&2; exit 2; }
done

out="$root/target/fuzz"
triple="$(rustc -vV | sed -n 's/^host: //p')"
# The coverage the fuzzer steers by, on the target only (build scripts and proc macros stay plain: --target).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
echo "fuzz: building ${#targets[@]} target(s) into $out" >&2
(cd fuzz && cargo build --release --locked --quiet --target "$triple" --target-dir "$out" \
  $(printf -- '--bin %s ' "${targets[@]}"))
bin="$out/$triple/release"

# Seeds from the repository, written fresh into each corpus (file names are their contents' hashes).
python3 - "$root" "$out/corpus" "${targets[@]}" <<'PY'
import glob, hashlib, json, os, sys, tomllib
root, corpus, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
def put(target, data):
    if target not in targets:
        return
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)
def read(path):
    with open(path, "rb") as f:
        return f.read()
captures = sorted(glob.glob(f"{root}/captures/*/*/captures/*/*-post-responses.json"))[:40]
for path in captures:
    put("capture", read(path))
    events = json.loads(read(path)).get("response", {}).get("events", [])
    put("sse", "".join(f"event: {e.get('data', {}).get('type', 'message')}\ndata: {json.dumps(e.get('data'))}\n\n"
                       for e in events if isinstance(e, dict)))
for path in sorted(glob.glob(f"{root}/fixtures/scenarios/*.toml")):
    script = tomllib.loads(read(path).decode()).get("script")
    if script is not None:
        put("script", b"\x00" + json.dumps(script).encode())
for path in sorted(glob.glob(f"{root}/fixtures/scripts/*.toml")):
    put("script", b"\x01" + read(path))
for path in sorted(glob.glob(f"{root}/fixtures/accepted/*.toml")):
    put("diff_files", b"\x01" + read(path))
put("diff_files", b"\x00[[rules]]\nselector = \"/body/prompt_cache_key\"\naction = \"placeholder\"\n")
for path in sorted(glob.glob(f"{root}/agent/apply-patch/tests/observed/cases/*.json")):
    call = json.loads(read(path)).get("call", {})
    if isinstance(call.get("input"), str):
        put("patch", call["input"])
for path in sorted(glob.glob(f"{root}/fuzz/seeds/config/*.toml")):
    put("config", read(path))
for path in sorted(glob.glob(f"{root}/captures/*/*/frontend.jsonl"))[:20]:
    for line in read(path).decode().splitlines()[:30]:
        message = json.loads(line).get("message")
        if message is not None:
            put("jsonrpc", json.dumps(message) + "\n")
PY

failed=0
for target in "${targets[@]}"; do
  corpus="$out/corpus/$target"
  artifacts="$out/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  regressions="fuzz/regressions/$target"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    "$bin/$target" -runs=0 "$regressions" >/dev/null 2>&1 ||
      { echo "fuzz: $target fails again on an input of $regressions" >&2; failed=1; continue; }
  fi
  printf 'fuzz: %-10s %4s s, %5s seeds ... ' "$target" "$seconds" "$(ls "$corpus" | wc -l)" >&2
  log="$out/$target.log"
  if "$bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
    echo "$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#') runs, no crash" >&2
  else
    echo "CRASH" >&2
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -5 >&2
    echo "fuzz: the input is in $artifacts; copy it to fuzz/regressions/$target and add a test where the parser lives (log: $log)" >&2
    failed=1
  fi
done
exit "$failed"
