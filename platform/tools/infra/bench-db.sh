#!/usr/bin/env bash
# `make bench-db`: the raw PostgreSQL baseline for a transfer. pgbench runs exactly the SQL one
# transfer runs (db/bench/transfer.sql) on a scratch database with the real schema, with the bench's
# number of clients, for a uniform mix and for the bench's hot-pair mix, and compares its
# transactions/s with the transfers/s `make bench` measured through the API (.run/bench-result.json).
# A second ceiling, for group commit: pgbench running one money batch's SQL
# (db/bench/transfer-batch.sql, BENCH_BATCH_SIZE transfers per transaction) with as many clients as
# the service runs batches at once (BENCH_BATCH_CLIENTS); its transfers/s = tps x batch size.
# Environment: BENCH_USERS (50), BENCH_CONCURRENCY (500), BENCH_HOT_PAIR_SHARE (0.1),
# BENCH_MAX_AMOUNT_MINOR (1000), BENCH_DB_SECONDS (30 per run), PGHOST/PGPORT (127.0.0.1:5432),
# BENCH_BATCH_SIZE (500), BENCH_BATCH_CLIENTS (1), BENCH_DB_RUNS ("uniform hot pool batch batch-hot":
# which pgbench runs to do; hot-pair runs use BENCH_HOT_PAIR_SHARE).
set -euo pipefail

# ROOT, PG_HOST/PG_PORT/PG_USER; log, die, RUN_DIR
source "$(dirname "${BASH_SOURCE[0]}")/script-lib.sh" bench-db
DB="wallet_bench_pgbench"
DB_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB"
USERS="${BENCH_USERS:-50}"
CONCURRENCY="${BENCH_CONCURRENCY:-500}"
SECONDS_PER_RUN="${BENCH_DB_SECONDS:-30}"
HOT_SHARE="${BENCH_HOT_PAIR_SHARE:-0.1}"
MAX_AMOUNT_MINOR="${BENCH_MAX_AMOUNT_MINOR:-1000}"
RUNS=" ${BENCH_DB_RUNS:-uniform hot pool batch batch-hot} "
BATCH_SIZE="${BENCH_BATCH_SIZE:-500}"
BATCH_CLIENTS="${BENCH_BATCH_CLIENTS:-1}"
POOL_SIZE="${DB_POOL_MAX:-20}" # transaction-service's connection pool (its DB_POOL_MAX default)
RESULT_FILE="$RUN_DIR/bench-result.json"
OUT_FILE="$RUN_DIR/bench-db-result.json"

psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"; }

command -v pgbench >/dev/null 2>&1 || die "pgbench is not installed (apt-get install postgresql-client)"
[ -f "$ROOT/transaction-service/dist/src/entry-points/migrate.js" ] || die "build first (make build)"

max_connections="$(psql_admin -tAc 'SHOW max_connections')"
in_use="$(psql_admin -tAc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")"
clients="$CONCURRENCY"
limit=$((max_connections - 10))
if [ "$clients" -gt "$limit" ]; then
  log "BENCH_CONCURRENCY=$CONCURRENCY is more than PostgreSQL accepts (max_connections=$max_connections):" \
    "using $limit clients (max_connections - 10)"
  clients="$limit"
fi
free=$((max_connections - in_use - 10))
if [ "$clients" -gt "$free" ]; then
  log "$in_use connections are already in use on this server: using $free clients"
  clients="$free"
fi
[ "$clients" -ge 1 ] || die "no connection slots left on the server"
hot_permille="$(awk -v s="$HOT_SHARE" 'BEGIN { printf "%d", s * 1000 + 0.5 }')"

cleanup() { psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT

log "scratch database $DB: real schema (transaction-service's migrate), $USERS users with large balances"
psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
psql_admin -c "CREATE DATABASE $DB" >/dev/null
# The migrate entry point reads the whole config, broker credentials included.
MIGRATION_DATABASE_URL="$DB_URL" DATABASE_URL="$DB_URL" LOG_LEVEL=warn \
  bash "$ROOT/platform/tools/infra/credentials.sh" exec transaction-service node "$ROOT/transaction-service/dist/src/entry-points/migrate.js"
psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$DB" \
  -v users="$USERS" -v balance_minor=100000000000000 -f "$ROOT/db/bench/setup.sql"

# run <label> <clients> <hot_permille> [script]: prints pgbench's summary, sets $tps
run() {
  local label="$1" n="$2" hot="$3" script="${4:-transfer.sql}" output threads=2
  [ "$n" -lt 2 ] && threads=1
  log "$label: $n clients, ${SECONDS_PER_RUN}s, hot pair $((hot / 10))%"
  output="$(pgbench -n -M extended -r -j "$threads" -c "$n" -T "$SECONDS_PER_RUN" \
    -D users="$USERS" -D hot_permille="$hot" -D max_amount_minor="$MAX_AMOUNT_MINOR" -D batch="$BATCH_SIZE" \
    -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -f "$ROOT/db/bench/$script" "$DB" 2>&1)" ||
    { printf '%s\n' "$output" >&2; die "pgbench failed"; }
  printf '%s\n' "$output" | grep -E '^(number of (transactions actually processed|failed)|latency average|latency stddev|tps)' | sed 's/^/    /'
  printf '%s\n' "$output" | grep -E '^ +[0-9.]+ +[0-9]+ +(BEGIN|COMMIT|SELECT|WITH|UPDATE|INSERT)' | sed 's/^/    per statement (ms, failures): /' || true
  tps="$(printf '%s\n' "$output" | sed -nE '/^tps = /{s/^tps = ([0-9.]+).*/\1/p;q;}')"
  [ -n "$tps" ] || die "could not read tps from pgbench"
}

wanted() { [[ "$RUNS" == *" $1 "* ]]; }
tps_uniform="" tps_hot="" tps_pool="" tps_batch="" tps_batch_hot=""
pool_clients=$((POOL_SIZE < clients ? POOL_SIZE : clients))
if wanted uniform; then run "uniform pairs" "$clients" 0; tps_uniform="$tps"; fi
if wanted hot; then run "bench mix (hot pair)" "$clients" "$hot_permille"; tps_hot="$tps"; fi
if wanted pool; then run "uniform pairs at the service's pool size" "$pool_clients" 0; tps_pool="$tps"; fi
# Batch ceilings, in transfers/s (tps x batch size).
if wanted batch; then
  run "batch SQL, $BATCH_SIZE transfers per transaction, uniform" "$BATCH_CLIENTS" 0 transfer-batch.sql
  tps_batch="$(awk -v t="$tps" -v b="$BATCH_SIZE" 'BEGIN { printf "%.1f", t * b }')"
fi
if wanted batch-hot; then
  run "batch SQL, $BATCH_SIZE transfers per transaction, hot pair $((hot_permille / 10))%" "$BATCH_CLIENTS" "$hot_permille" transfer-batch.sql
  tps_batch_hot="$(awk -v t="$tps" -v b="$BATCH_SIZE" 'BEGIN { printf "%.1f", t * b }')"
fi

# The last `make bench`: its throughput, and whether its traffic was uniform (no hot pair, no
# duplicates, no invalid requests) -- only then is the ratio to pgbench's uniform run like for like.
ours="" ours_uniform=""
if [ -f "$RESULT_FILE" ]; then
  read -r ours ours_uniform < <(node -e '
    const r = require(process.argv[1]);
    const c = r.config ?? {};
    const uniform = c.hot_pair_share === 0 && c.duplicate_share === 0 && c.invalid_share === 0;
    process.stdout.write(`${r.summary?.transfersPerSecond ?? ""} ${uniform ? "yes" : "no"}\n`);
  ' "$RESULT_FILE")
fi

echo
echo "pgbench (raw SQL of one transfer, $clients clients):"
[ -n "$tps_uniform" ] && printf '  uniform pairs                %10.1f transfers/s\n' "$tps_uniform"
[ -n "$tps_hot" ] && printf '  bench mix (%s%% hot pair)     %10.1f transfers/s\n' "$((hot_permille / 10))" "$tps_hot"
[ -n "$tps_pool" ] && printf '  uniform, %3d clients (pool)  %10.1f transfers/s\n' "$pool_clients" "$tps_pool"
[ -n "$tps_batch" ] && printf '  batch SQL (%d/txn), uniform  %10.1f transfers/s\n' "$BATCH_SIZE" "$tps_batch"
[ -n "$tps_batch_hot" ] && printf '  batch SQL (%d/txn), %s%% hot  %10.1f transfers/s\n' "$BATCH_SIZE" "$((hot_permille / 10))" "$tps_batch_hot"
if [ -n "$ours" ]; then
  echo "make bench (through the API, $RESULT_FILE):"
  printf '  %-28s %10.1f transfers/s (%s traffic)\n' "committed transfers" "$ours" \
    "$([ "$ours_uniform" = yes ] && echo uniform || echo "mixed: hot pair, duplicates, invalid")"
  if [ -n "$tps_uniform" ]; then
    awk -v o="$ours" -v u="$tps_uniform" -v like="$ours_uniform" 'BEGIN {
      if (like == "yes") printf "  ratio to pgbench uniform     %10.2f   (target >= 0.70: %s)\n", o / u, (o / u >= 0.7 ? "met" : "MISSED")
      else printf "  ratio to pgbench uniform     %10.2f   (not like for like: the target is for uniform traffic; see make bench-compare)\n", o / u
    }'
  fi
  [ -n "$tps_hot" ] && awk -v o="$ours" -v h="$tps_hot" 'BEGIN { printf "  ratio to pgbench bench mix   %10.2f\n", o / h }'
else
  echo "no $RESULT_FILE yet: run make bench first to compare"
fi

mkdir -p "$RUN_DIR"
# One line per group: the run's settings, each pgbench run's result with what it varied, the last
# `make bench`. Unrun pgbench runs are null. bench-compare.sh reads the fields by name.
cat >"$OUT_FILE" <<JSON
{
  "kind": "bench-db", "finished_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "clients": $clients, "max_connections": $max_connections, "seconds_per_run": $SECONDS_PER_RUN, "users": $USERS,
  "tps_uniform": ${tps_uniform:-null}, "tps_bench_mix": ${tps_hot:-null}, "hot_permille": $hot_permille,
  "tps_uniform_pool_size": ${tps_pool:-null}, "pool_clients": $pool_clients,
  "batch_size": $BATCH_SIZE, "batch_clients": $BATCH_CLIENTS,
  "transfers_per_second_batch_uniform": ${tps_batch:-null}, "transfers_per_second_batch_hot": ${tps_batch_hot:-null},
  "bench_transfers_per_second": ${ours:-null}, "bench_traffic_uniform": $([ "$ours_uniform" = yes ] && echo true || echo false)
}
JSON
log "result written to $OUT_FILE"
