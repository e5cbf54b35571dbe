#!/usr/bin/env bash
# `make bench-compare`: like-for-like ratios of our transfers/s (through the API) to pgbench running
# the SQL by itself, with the same clients, on the same machine, in alternating rounds.
# Each round:
#   1. `make bench`, uniform traffic (no hot pair, no duplicates, no invalid requests);
#   2. pgbench: the per-transfer SQL (db/bench/transfer.sql, one transaction per transfer, the
#      design before group commit) and the batch SQL (db/bench/transfer-batch.sql, the ceiling of
#      group commit: transfers/s = tps x batch size), both uniform;
#   3. `make bench` with every transfer on one pair (BENCH_HOT_PAIR_SHARE=1);
#   4. pgbench, the same two scripts, 100 % hot pair.
# On a shared two-core machine one run can differ from the next by a third, so the median of each
# ratio over the rounds is the verdict.
# Environment: BENCH_COMPARE_ROUNDS (3), BENCH_DB_SECONDS (20), and everything `make bench` and
# `make bench-db` read.
set -euo pipefail

# ROOT; log, die, RUN_DIR
source "$(dirname "${BASH_SOURCE[0]}")/script-lib.sh" bench-compare
ROUNDS="${BENCH_COMPARE_ROUNDS:-3}"
OUT_FILE="$RUN_DIR/bench-compare-result.json"
DB_RESULT="$RUN_DIR/bench-db-result.json"

json_field() { node -e 'process.stdout.write(String(require(process.argv[1])[process.argv[2]] ?? ""))' "$1" "$2"; }
ratio() { awk -v o="$1" -v t="$2" 'BEGIN { printf "%.2f", o / t }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_COMPARE_ROUNDS must be a positive integer"

u_per=() u_batch=() h_per=() h_batch=() rows=()
# The rates behind each ratio, for the HTML report's charts.
ours_us=() per_us=() batch_us=() ours_hs=() per_hs=() batch_hs=()
for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round/$ROUNDS: make bench, uniform traffic"
  BENCH_HOT_PAIR_SHARE=0 BENCH_DUPLICATE_SHARE=0 BENCH_INVALID_SHARE=0 \
    node "$ROOT/platform/dist/tools/bench/run-bench.js" >/dev/null
  log "round $round/$ROUNDS: pgbench, uniform pairs (per-transfer SQL, batch SQL)"
  BENCH_DB_RUNS="uniform batch" BENCH_DB_SECONDS="${BENCH_DB_SECONDS:-20}" bash "$ROOT/platform/tools/infra/bench-db.sh" >/dev/null
  ours_u="$(json_field "$DB_RESULT" bench_transfers_per_second)"
  per_u="$(json_field "$DB_RESULT" tps_uniform)"
  batch_u="$(json_field "$DB_RESULT" transfers_per_second_batch_uniform)"

  log "round $round/$ROUNDS: make bench, every transfer on one pair"
  BENCH_HOT_PAIR_SHARE=1 BENCH_DUPLICATE_SHARE=0 BENCH_INVALID_SHARE=0 \
    node "$ROOT/platform/dist/tools/bench/run-bench.js" >/dev/null
  log "round $round/$ROUNDS: pgbench, hot pair (per-transfer SQL, batch SQL)"
  BENCH_HOT_PAIR_SHARE=1 BENCH_DB_RUNS="hot batch-hot" BENCH_DB_SECONDS="${BENCH_DB_SECONDS:-20}" \
    bash "$ROOT/platform/tools/infra/bench-db.sh" >/dev/null
  ours_h="$(json_field "$DB_RESULT" bench_transfers_per_second)"
  per_h="$(json_field "$DB_RESULT" tps_bench_mix)"
  batch_h="$(json_field "$DB_RESULT" transfers_per_second_batch_hot)"

  ours_us+=("$ours_u") per_us+=("$per_u") batch_us+=("$batch_u") ours_hs+=("$ours_h") per_hs+=("$per_h") batch_hs+=("$batch_h")
  u_per+=("$(ratio "$ours_u" "$per_u")"); u_batch+=("$(ratio "$ours_u" "$batch_u")")
  h_per+=("$(ratio "$ours_h" "$per_h")"); h_batch+=("$(ratio "$ours_h" "$batch_h")")
  rows+=("$(printf '  %5d  uniform  %9.1f  %9.1f  %9.1f  %6s  %6s' "$round" "$ours_u" "$per_u" "$batch_u" "${u_per[-1]}" "${u_batch[-1]}")")
  rows+=("$(printf '  %5d  hot pair %9.1f  %9.1f  %9.1f  %6s  %6s' "$round" "$ours_h" "$per_h" "$batch_h" "${h_per[-1]}" "${h_batch[-1]}")")
  log "round $round/$ROUNDS: uniform ${u_per[-1]}x per-transfer, ${u_batch[-1]}x batch; hot pair ${h_per[-1]}x per-transfer, ${h_batch[-1]}x batch"
done

m_u_per="$(median "${u_per[@]}")" m_u_batch="$(median "${u_batch[@]}")"
m_h_per="$(median "${h_per[@]}")" m_h_batch="$(median "${h_batch[@]}")"
echo
echo "make bench (through the API) vs pgbench (raw SQL), transfers/s, same clients, alternating rounds:"
echo "  round  traffic        ours  per-xfer   batch SQL  ours/per  ours/batch"
printf '%s\n' "${rows[@]}"
awk -v a="$m_u_per" -v b="$m_u_batch" -v c="$m_h_per" -v d="$m_h_batch" 'BEGIN {
  printf "  median uniform:  %.2f x per-transfer pgbench (target >= 2.0: %s), %.2f x the batch ceiling\n", a, (a >= 2 ? "met" : "MISSED"), b
  printf "  median hot pair: %.2f x per-transfer pgbench (target >= 5.0: %s), %.2f x the batch ceiling\n", c, (c >= 5 ? "met" : "MISSED"), d
}'

mkdir -p "$RUN_DIR"
list() { local IFS=,; echo "$*"; }
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || commit="$commit+dirty"
printf '{"kind":"bench-compare","finished_at":"%s","commit":"%s","rounds":%d,"uniform_per_transfer":[%s],"uniform_batch":[%s],"hot_per_transfer":[%s],"hot_batch":[%s],"ours_uniform":[%s],"per_transfer_uniform":[%s],"batch_uniform":[%s],"ours_hot":[%s],"per_transfer_hot":[%s],"batch_hot":[%s],"median_uniform_per_transfer":%s,"median_uniform_batch":%s,"median_hot_per_transfer":%s,"median_hot_batch":%s}\n' \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "$ROUNDS" "$(list "${u_per[@]}")" "$(list "${u_batch[@]}")" \
  "$(list "${h_per[@]}")" "$(list "${h_batch[@]}")" "$(list "${ours_us[@]}")" "$(list "${per_us[@]}")" "$(list "${batch_us[@]}")" \
  "$(list "${ours_hs[@]}")" "$(list "${per_hs[@]}")" "$(list "${batch_hs[@]}")" "$m_u_per" "$m_u_batch" "$m_h_per" "$m_h_batch" >"$OUT_FILE"
log "result written to $OUT_FILE"
# The self-contained HTML report beside it (.run/bench-compare-result.html).
node "$ROOT/platform/dist/tools/bench/render-report.js" "$OUT_FILE"
