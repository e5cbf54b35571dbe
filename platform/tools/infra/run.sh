#!/usr/bin/env bash
# Runs the three processes natively (after `make infra` and a build).
#   run.sh foreground   all three in this terminal; Ctrl-C stops them (make run)
#   run.sh start        in the background, logs appended to .run/<name>.log, pids in .run/<name>.pid (make up without Docker)
#   run.sh stop         stops what `start` started, by pid file
#   run.sh status
# Configuration comes from the environment (see README); defaults suit a local machine. Every
# listener binds the loopback (HOST) and each process logs in to PostgreSQL with its own role;
# the migrations run as each database's owner role (db/README.md).
set -euo pipefail
# ROOT, NATS_PORT, KAFKA_PORT; RUN_DIR, pid_file_alive, stop_pid_file
source "$(dirname "${BASH_SOURCE[0]}")/script-lib.sh" run
NAMES=(transaction-service user-service outbox-relay)
declare -A ENTRY=(
  [user-service]="user-service/dist/src/entry-points/main.js"
  [transaction-service]="transaction-service/dist/src/entry-points/main.js"
  [outbox-relay]="outbox-relay/dist/src/entry-points/main.js"
)
# transaction-service counts as up once /readyz passes: its consumer has joined the group, so a
# user created right after `make up` arrives at once.
declare -A HEALTH=([user-service]="http://127.0.0.1:${USER_SERVICE_PORT:-3001}/healthz" [transaction-service]="http://127.0.0.1:${TRANSACTION_SERVICE_PORT:-3002}/readyz")

# The brokers infra.sh runs (same port variables), and each process's own credentials only
# (platform/tools/infra/credentials.sh env <name>: generated on first use, never anyone else's).
BROKERS="NATS_URL=nats://127.0.0.1:${NATS_PORT} KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT}"
credentials_for() { bash "$ROOT/platform/tools/infra/credentials.sh" env "$1" | tr '\n' ' '; }

env_for() {
  case "$1" in
    user-service) echo "PORT=${USER_SERVICE_PORT:-3001} DATABASE_URL=${USER_DATABASE_URL:-postgres://user_service@127.0.0.1:5432/wallet_users} MIGRATION_DATABASE_URL=${USER_MIGRATION_DATABASE_URL:-postgres://wallet_users_owner@127.0.0.1:5432/wallet_users}" ;;
    transaction-service) echo "PORT=${TRANSACTION_SERVICE_PORT:-3002} DATABASE_URL=${TRANSACTION_DATABASE_URL:-postgres://transaction_service@127.0.0.1:5432/wallet_transactions} MIGRATION_DATABASE_URL=${TRANSACTION_MIGRATION_DATABASE_URL:-postgres://wallet_transactions_owner@127.0.0.1:5432/wallet_transactions}" ;;
    outbox-relay) echo "DATABASE_URL=${RELAY_DATABASE_URL:-postgres://outbox_relay@127.0.0.1:5432/wallet_users}" ;;
  esac
  echo "$BROKERS $(credentials_for "$1")"
}

wait_healthy() {
  local url="${HEALTH[$1]:-}" i
  [ -n "$url" ] || return 0
  for ((i = 0; i < 300; i++)); do
    curl -fsS "$url" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$1 did not become healthy; see .run/$1.log" >&2
  return 1
}

case "${1:-foreground}" in
  foreground)
    pids=()
    trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' INT TERM
    for name in "${NAMES[@]}"; do
      # shellcheck disable=SC2046
      env $(env_for "$name") node "$ROOT/${ENTRY[$name]}" &
      pids+=($!)
      [ "$name" = transaction-service ] && wait_healthy "$name"
    done
    echo "user-service http://localhost:${USER_SERVICE_PORT:-3001}  transaction-service http://localhost:${TRANSACTION_SERVICE_PORT:-3002}  (Ctrl-C stops)"
    wait
    ;;
  start)
    mkdir -p "$RUN_DIR"
    for name in "${NAMES[@]}"; do
      if pid_file_alive "$RUN_DIR/$name.pid"; then
        echo "$name already runs (pid $(cat "$RUN_DIR/$name.pid"))"
        continue
      fi
      # Appended, never truncated: the log of a run that crashed is still there after a restart.
      printf '\n===== %s: %s starting (run.sh start) =====\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" >>"$RUN_DIR/$name.log"
      # shellcheck disable=SC2046
      nohup env $(env_for "$name") node "$ROOT/${ENTRY[$name]}" >>"$RUN_DIR/$name.log" 2>&1 </dev/null &
      echo $! >"$RUN_DIR/$name.pid"
      wait_healthy "$name"
    done
    echo "user-service: http://localhost:${USER_SERVICE_PORT:-3001}  transaction-service: http://localhost:${TRANSACTION_SERVICE_PORT:-3002}"
    echo "docs: http://localhost:${USER_SERVICE_PORT:-3001}/docs  http://localhost:${TRANSACTION_SERVICE_PORT:-3002}/docs   logs: make logs"
    ;;
  stop)
    for name in "${NAMES[@]}"; do stop_pid_file "$name" "$RUN_DIR/$name.pid" 20; done
    ;;
  status)
    for name in "${NAMES[@]}"; do
      file="$RUN_DIR/$name.pid"
      if pid_file_alive "$file"; then echo "$name: running (pid $(cat "$file"))"; else echo "$name: stopped"; fi
    done
    ;;
  *) echo "usage: $0 foreground|start|stop|status" >&2; exit 2 ;;
esac
