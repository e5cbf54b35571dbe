#!/usr/bin/env bash
# `make bench-compare`: the like-for-like ratio the "0.7 x pgbench for uniform traffic" target asks
# for. Each round runs `make bench` with uniform traffic (no hot pair, no duplicates, no invalid
# requests) against the running stack, then pgbench's uniform run of the same SQL with the same
# clients, and divides the two. Rounds alternate so that both sides see the same machine: on a shared
# two-core machine one run can differ from the next by a third, so the median ratio is the verdict.
# Environment: BENCH_COMPARE_ROUNDS (3), BENCH_DB_SECONDS (20), and everything `make bench` and
# `make bench-db` read.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ROUNDS="${BENCH_COMPARE_ROUNDS:-3}"
OUT_FILE="$ROOT/.run/bench-compare-result.json"

log() { printf '[bench-compare] %s\n' "$*"; }
json_field() { node -e 'process.stdout.write(String(require(process.argv[1])[process.argv[2]] ?? ""))' "$1" "$2"; }

[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { log "BENCH_COMPARE_ROUNDS must be a positive integer" >&2; exit 1; }

ratios=()
rows=()
for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round/$ROUNDS: make bench, uniform traffic"
  BENCH_HOT_PAIR_SHARE=0 BENCH_DUPLICATE_SHARE=0 BENCH_INVALID_SHARE=0 \
    node "$ROOT/platform/dist/src/bench/run-bench.js" >/dev/null
  log "round $round/$ROUNDS: pgbench, uniform pairs"
  BENCH_DB_RUNS=uniform BENCH_DB_SECONDS="${BENCH_DB_SECONDS:-20}" bash "$ROOT/platform/infra/bench-db.sh" >/dev/null
  ours="$(json_field "$ROOT/.run/bench-db-result.json" bench_transfers_per_second)"
  theirs="$(json_field "$ROOT/.run/bench-db-result.json" tps_uniform)"
  ratio="$(awk -v o="$ours" -v t="$theirs" 'BEGIN { printf "%.2f", o / t }')"
  ratios+=("$ratio")
  rows+=("$(printf '  %5d  %14.1f  %14.1f  %6s' "$round" "$ours" "$theirs" "$ratio")")
  log "round $round/$ROUNDS: $ours vs $theirs transfers/s = $ratio"
done

median="$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')"
echo
echo "uniform traffic, make bench (through the API) vs pgbench (raw SQL), same clients:"
echo "  round  ours (xfers/s)  pgbench (tps)   ratio"
printf '%s\n' "${rows[@]}"
awk -v m="$median" 'BEGIN { printf "  median ratio %.2f   (target >= 0.70: %s)\n", m, (m >= 0.7 ? "met" : "MISSED") }'

mkdir -p "$ROOT/.run"
printf '{"kind":"bench-compare","finished_at":"%s","rounds":%d,"ratios":[%s],"median_ratio":%s}\n' \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$ROUNDS" "$(IFS=,; echo "${ratios[*]}")" "$median" >"$OUT_FILE"
log "result written to $OUT_FILE"
