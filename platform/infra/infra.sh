#!/usr/bin/env bash
# Local infrastructure for development, tests and CI: PostgreSQL, NATS and a real Apache Kafka.
#   infra.sh up    start what is not reachable, then wait until each is ready
#   infra.sh down  stop only what `up` started (by its pid file), never by process name
# Docker is used when an engine answers; otherwise machine services are started with their
# native commands and Kafka runs from its Maven Central jars on the JDK (KRaft, single node).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="$ROOT/.run"
KAFKA_HOME="$ROOT/.cache/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_VERSION="3.9.1"
# A fixed 22-character KRaft cluster id: the data folder is formatted once and reused.
KAFKA_CLUSTER_ID="${KAFKA_CLUSTER_ID:-WaLLetKRaftCluster0001}"
PG_HOST="${PGHOST:-127.0.0.1}"
PG_PORT="${PGPORT:-5432}"
NATS_PORT="${NATS_PORT:-4222}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
DATABASES=(wallet_users wallet_transactions)

log() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() { # host port name seconds
  local i
  for ((i = 0; i < $4 * 10; i++)); do port_open "$1" "$2" && return 0; sleep 0.1; done
  die "$3 did not open $1:$2 within $4 s"
}

docker_engine() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

compose_up() {
  log "starting $1 with docker compose"
  (cd "$ROOT" && docker compose up -d --wait "$1")
  mkdir -p "$RUN_DIR" && echo "$1" >>"$RUN_DIR/compose-services"
}

ensure_postgres() {
  if pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; then
    log "PostgreSQL is up on $PG_HOST:$PG_PORT"
  elif docker_engine; then
    compose_up postgres
  elif command -v pg_ctlcluster >/dev/null 2>&1; then
    log "starting PostgreSQL (pg_ctlcluster)"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  else
    die "PostgreSQL is not reachable on $PG_HOST:$PG_PORT and there is no way here to start it"
  fi
  local i
  for ((i = 0; i < 300; i++)); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 0.1; done
  pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || die "PostgreSQL did not become ready"
  setup_databases
}

# The same scripts the postgres container runs on its first start (db/init/*.sql), as the
# superuser: the roles (an owner per database, a login per process), the databases and their
# privileges. They are idempotent, so this runs on every `make infra` and also brings a database
# made by an older setup to the same state. Natively the server trusts loopback connections (the
# machine's choice), so the passwords only matter where password authentication is on (the compose
# postgres, whose superuser password is POSTGRES_PASSWORD as in docker-compose.yml).
setup_databases() {
  local script server
  # The scripts use psql 15's \getenv and PostgreSQL 15's pg_database_owner (the same major as
  # compose's postgres:15 image): an older one would half-apply them.
  server="$(PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD:-postgres}}" psql -X -tA -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -c 'SHOW server_version_num')"
  [ "${server:-0}" -ge 150000 ] || die "PostgreSQL 15 or later is needed on $PG_HOST:$PG_PORT (found server_version_num ${server:-unknown})"
  [ "$(psql --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')" -ge 15 ] || die "psql 15 or later is needed (found: $(psql --version))"
  for script in "$ROOT"/db/init/*.sql; do
    WALLET_USERS_OWNER_DB_PASSWORD="${WALLET_USERS_OWNER_DB_PASSWORD:-wallet-users-owner-dev}" \
    WALLET_TRANSACTIONS_OWNER_DB_PASSWORD="${WALLET_TRANSACTIONS_OWNER_DB_PASSWORD:-wallet-transactions-owner-dev}" \
    USER_SERVICE_DB_PASSWORD="${USER_SERVICE_DB_PASSWORD:-user-service-dev}" \
    TRANSACTION_SERVICE_DB_PASSWORD="${TRANSACTION_SERVICE_DB_PASSWORD:-transaction-service-dev}" \
    OUTBOX_RELAY_DB_PASSWORD="${OUTBOX_RELAY_DB_PASSWORD:-outbox-relay-dev}" \
    PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD:-postgres}}" \
      psql -q -X -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -f "$script" >/dev/null ||
      die "$(basename "$script") failed on $PG_HOST:$PG_PORT"
  done
  log "databases ${DATABASES[*]}: roles and privileges in place (db/init)"
}

ensure_nats() {
  if port_open 127.0.0.1 "$NATS_PORT"; then
    log "NATS is up on 127.0.0.1:$NATS_PORT"
    return
  elif docker_engine; then
    compose_up nats
  elif [ -x /usr/sbin/nats-server ]; then
    log "starting NATS (nats-server with JetStream)"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  else
    die "NATS is not reachable on 127.0.0.1:$NATS_PORT and there is no way here to start it"
  fi
  wait_port 127.0.0.1 "$NATS_PORT" NATS 30
}

# Downloads Kafka's jars once into the git-ignored cache (kept between runs when the cache survives).
ensure_kafka_jars() {
  if [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] && [ -f "$KAFKA_LIBS/.complete" ]; then return; fi
  command -v mvn >/dev/null 2>&1 || die "Maven is needed to fetch the Kafka jars"
  log "fetching Apache Kafka $KAFKA_VERSION jars with Maven"
  rm -rf "$KAFKA_LIBS"
  mvn -q -B -Dstyle.color=never -f "$ROOT/platform/infra/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime
  touch "$KAFKA_LIBS/.complete"
}

write_kafka_config() {
  mkdir -p "$KAFKA_HOME/data"
  sed -e "s#@DATA_DIR@#$KAFKA_HOME/data#" -e "s#@PORT@#$KAFKA_PORT#" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#" \
    "$ROOT/platform/infra/kafka/server.properties" >"$KAFKA_HOME/server.properties"
  cp "$ROOT/platform/infra/kafka/log4j.properties" "$KAFKA_HOME/log4j.properties"
}

kafka_ready() { node "$ROOT/platform/infra/wait-for-kafka.mjs" "127.0.0.1:$KAFKA_PORT" "$1"; }

ensure_kafka() {
  if port_open 127.0.0.1 "$KAFKA_PORT"; then
    log "Kafka is listening on 127.0.0.1:$KAFKA_PORT"
  elif docker_engine; then
    compose_up kafka
  else
    ensure_kafka_jars
    write_kafka_config
    command -v java >/dev/null 2>&1 || die "a JDK is needed to run Kafka"
    local java_opts=(-Xms256m -Xmx1g -XX:+UseG1GC "-Dlog4j.configuration=file:$KAFKA_HOME/log4j.properties")
    java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
      -t "$KAFKA_CLUSTER_ID" -c "$KAFKA_HOME/server.properties" --ignore-formatted >"$KAFKA_HOME/format.log" 2>&1 ||
      { cat "$KAFKA_HOME/format.log" >&2; die "formatting Kafka storage failed"; }
    mkdir -p "$RUN_DIR"
    log "starting Apache Kafka $KAFKA_VERSION (KRaft, single node) on 127.0.0.1:$KAFKA_PORT; log: .cache/kafka/kafka.log"
    nohup java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_HOME/server.properties" \
      >"$KAFKA_HOME/kafka.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/kafka.pid"
  fi
  kafka_ready 90 || { tail -n 40 "$KAFKA_HOME/kafka.log" >&2 2>/dev/null || true; die "Kafka did not become ready"; }
  log "Kafka is ready"
}

stop_pid_file() { # name file
  local file="$2" pid i
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $1 (pid $pid)"
    kill "$pid"
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$1 did not stop in 30 s: killing"; kill -9 "$pid"; }
  fi
  rm -f "$file"
}

case "${1:-up}" in
  up)
    ensure_postgres
    ensure_nats
    ensure_kafka
    ;;
  kafka-jars) ensure_kafka_jars ;;
  databases) setup_databases ;;
  kafka-up) ensure_kafka ;;
  kafka-down) stop_pid_file kafka "$RUN_DIR/kafka.pid" ;;
  down)
    stop_pid_file kafka "$RUN_DIR/kafka.pid"
    if [ -f "$RUN_DIR/compose-services" ]; then
      mapfile -t started_services < <(sort -u "$RUN_DIR/compose-services")
      (cd "$ROOT" && docker compose stop "${started_services[@]}")
      rm -f "$RUN_DIR/compose-services"
    fi
    ;;
  *) die "usage: $0 up|down|databases|kafka-jars|kafka-up|kafka-down" ;;
esac
