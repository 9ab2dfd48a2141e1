#!/usr/bin/env bash
# Runs every benchmark of the README's "Performance" section, one after another. Take the figures on an otherwise
# idle machine: the load average is printed first, and each benchmark prints it again when it starts.
#
#   scripts/bench.sh                    # server, diff, recorder, agents, app-server, tui, long-session, soak
#   scripts/bench.sh agents recorder    # only those, in that order
#
# PARITY_BENCH_RUNS sets the rounds of the recorder (3), agents (10), app-server (10), tui (5) and long-session (1)
# benchmarks. Everything is
# compiled before the first measurement, so that no build runs beside one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (the figures assume an otherwise idle machine)"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(server diff recorder agents app-server tui long-session soak)

# Upstream Codex for the recorder, agents and app-server benchmarks (they skip what they cannot run, saying why).
scripts/install-upstream.sh >/dev/null ||
  echo "bench: upstream Codex could not be installed; its parts will be skipped" >&2
cargo build --release -p rcodex ||
  echo "bench: rcodex did not build: whatever target/release/rcodex holds (if anything) is measured" >&2
cargo bench -p parity-cli --no-run
cargo bench -p parity-diff --no-run

# Criterion's median of its samples, in ms, from the estimates it saved.
criterion_median() {
  local file="target/criterion/$1/new/estimates.json"
  local ns
  ns="$(sed -nE 's/.*"median":\{"confidence_interval":\{[^}]*\},"point_estimate":([0-9.eE+-]+).*/\1/p' "$file")"
  awk -v ns="$ns" -v name="$1" 'BEGIN { printf "%s: median %.3f ms\n", name, ns / 1e6 }'
}

for part in "${parts[@]}"; do
  echo
  echo "=== $part ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
  case "$part" in
    server) cargo bench -q -p parity-cli --bench server ;;
    diff)
      cargo bench -q -p parity-diff --bench diff
      criterion_median pair_40kb
      criterion_median recording/recording_1000_pairs
      ;;
    recorder) cargo bench -q -p parity-cli --bench recorder ;;
    agents) cargo bench -q -p parity-cli --bench agents ;;
    app-server) cargo bench -q -p parity-cli --bench app_server ;;
    tui) cargo bench -q -p parity-cli --bench tui ;;
    long-session) cargo bench -q -p parity-cli --bench long_session ;;
    soak) cargo bench -q -p parity-cli --bench soak ;;
    *) echo "bench: unknown part $part (server, diff, recorder, agents, app-server, tui, long-session, soak)" >&2; exit 2 ;;
  esac
done
