#!/usr/bin/env bash
# Local infrastructure for development, tests and CI: PostgreSQL, NATS and a real Apache Kafka.
#   infra.sh up    start what is not reachable, then wait until each is ready
#   infra.sh down  stop only what `up` started (by its pid file), never by process name
# Docker is used when an engine answers; otherwise machine services are started with their
# native commands and Kafka runs from its Maven Central jars on the JDK (KRaft, single node).
set -euo pipefail

# ROOT, PG_HOST/PG_PORT/PG_USER, NATS_PORT, KAFKA_PORT, KAFKA_CONTROLLER_PORT; log, die, RUN_DIR, port_open, stop_pid_file
source "$(dirname "${BASH_SOURCE[0]}")/script-lib.sh" infra
KAFKA_HOME="$ROOT/.cache/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_VERSION="3.9.1"
# A fixed 22-character KRaft cluster id: the data folder is formatted once and reused.
KAFKA_CLUSTER_ID="${KAFKA_CLUSTER_ID:-WaLLetKRaftCluster0001}"
NATS_CONFIG="$ROOT/platform/tools/infra/nats/nats-server.conf"
DATABASES=(wallet_users wallet_transactions)

wait_port() { # host port name seconds
  local i
  for ((i = 0; i < $4 * 10; i++)); do port_open "$1" "$2" && return 0; sleep 0.1; done
  die "$3 did not open $1:$2 within $4 s"
}

docker_engine() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# Broker credentials: generated on first use into the git-ignored .credentials.env (mode 600), then
# read here without exporting them: each command below gets only the ones it needs.
CREDENTIALS_FILE="$(bash "$ROOT/platform/tools/infra/credentials.sh" path)"
load_credentials() {
  bash "$ROOT/platform/tools/infra/credentials.sh" ensure
  # shellcheck disable=SC1090
  . "$CREDENTIALS_FILE"
}

compose_up() {
  log "starting $1 with docker compose"
  (cd "$ROOT" && docker compose --env-file "$CREDENTIALS_FILE" up -d --wait "$1")
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
    WALLET_USERS_OWNER_DB_PASSWORD="$WALLET_USERS_OWNER_DB_PASSWORD" \
    WALLET_TRANSACTIONS_OWNER_DB_PASSWORD="$WALLET_TRANSACTIONS_OWNER_DB_PASSWORD" \
    USER_SERVICE_DB_PASSWORD="$USER_SERVICE_DB_PASSWORD" \
    TRANSACTION_SERVICE_DB_PASSWORD="$TRANSACTION_SERVICE_DB_PASSWORD" \
    OUTBOX_RELAY_DB_PASSWORD="$OUTBOX_RELAY_DB_PASSWORD" \
    PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD:-postgres}}" \
      psql -q -X -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -f "$script" >/dev/null ||
      die "$(basename "$script") failed on $PG_HOST:$PG_PORT"
  done
  log "databases ${DATABASES[*]}: roles and privileges in place (db/init)"
}

nats_accepts_us() { # NATS on our port takes this checkout's user-service credentials
  NATS_URL="nats://127.0.0.1:$NATS_PORT" NATS_PASSWORD="$NATS_USER_SERVICE_PASSWORD" node -e '
    require("nats").connect({ servers: process.env.NATS_URL, user: "user-service", pass: process.env.NATS_PASSWORD, timeout: 3000 })
      .then((c) => c.close().then(() => process.exit(0)), () => process.exit(1));' 2>/dev/null
}

# A project-owned nats-server: the machine's binary with the repo's config (users, permissions, no
# JetStream) on its own port, pid in .run/nats.pid. A machine's default server on 4222 is left alone.
ensure_nats() {
  if port_open 127.0.0.1 "$NATS_PORT"; then
    nats_accepts_us || die "something listens on 127.0.0.1:$NATS_PORT but refuses this checkout's NATS credentials (another checkout's server?): stop it or set NATS_PORT"
    log "NATS is up on 127.0.0.1:$NATS_PORT"
    return
  elif docker_engine; then
    compose_up nats
  elif command -v nats-server >/dev/null 2>&1; then
    mkdir -p "$RUN_DIR"
    log "starting nats-server with platform/tools/infra/nats/nats-server.conf on 127.0.0.1:$NATS_PORT; log: .run/nats-server.log"
    # nats-server parses a variable's value as config syntax ("5162e6..." would be a number): quoted,
    # it is always the string itself.
    NATS_USER_SERVICE_PASSWORD="\"$NATS_USER_SERVICE_PASSWORD\"" NATS_TRANSACTION_SERVICE_PASSWORD="\"$NATS_TRANSACTION_SERVICE_PASSWORD\"" \
      nohup nats-server -c "$NATS_CONFIG" -a 127.0.0.1 -p "$NATS_PORT" >"$RUN_DIR/nats-server.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/nats.pid"
  else
    die "NATS is not reachable on 127.0.0.1:$NATS_PORT and there is no nats-server here to start"
  fi
  wait_port 127.0.0.1 "$NATS_PORT" NATS 30
  nats_accepts_us || die "NATS on 127.0.0.1:$NATS_PORT refuses this checkout's credentials; see .run/nats-server.log"
}

# Downloads Kafka's jars once into the git-ignored cache (kept between runs when the cache survives).
ensure_kafka_jars() {
  if [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] && [ -f "$KAFKA_LIBS/.complete" ]; then return; fi
  command -v mvn >/dev/null 2>&1 || die "Maven is needed to fetch the Kafka jars"
  log "fetching Apache Kafka $KAFKA_VERSION jars with Maven"
  rm -rf "$KAFKA_LIBS"
  mvn -q -B -Dstyle.color=never -f "$ROOT/platform/tools/infra/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime
  touch "$KAFKA_LIBS/.complete"
}

write_kafka_config() {
  mkdir -p "$KAFKA_HOME/data"
  (umask 077 && sed -e "s#@DATA_DIR@#$KAFKA_HOME/data#" -e "s#@PORT@#$KAFKA_PORT#" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#" \
    -e "s#@ADMIN_PASSWORD@#$KAFKA_ADMIN_PASSWORD#g" -e "s#@CONTROLLER_PASSWORD@#$KAFKA_CONTROLLER_PASSWORD#g" \
    "$ROOT/platform/tools/infra/kafka/server.properties" >"$KAFKA_HOME/server.properties")
  cp "$ROOT/platform/tools/infra/kafka/log4j.properties" "$KAFKA_HOME/log4j.properties"
}

# The SCRAM users live in the KRaft metadata, written once at storage format. Data formatted with
# other credentials (or none: before SASL) cannot be logged into, so it is formatted anew; a dev
# broker's events can be republished from the outbox (make replay-outbox). money-events-reader is
# formatted in too, but is not in the fingerprint: it came later, and ensure_kafka_reader adds it to
# (or sets its password on) data formatted without it, so its arrival costs no one their broker's data.
format_kafka_storage() {
  local fingerprint_file="$KAFKA_HOME/credentials.sha256" fingerprint
  fingerprint="$(printf '%s\n' "$KAFKA_ADMIN_PASSWORD" "$KAFKA_CONTROLLER_PASSWORD" "$KAFKA_OUTBOX_RELAY_PASSWORD" \
    "$KAFKA_TRANSACTION_SERVICE_PASSWORD" | sha256sum | cut -d' ' -f1)"
  if [ -f "$KAFKA_HOME/data/meta.properties" ] && [ "$(cat "$fingerprint_file" 2>/dev/null)" != "$fingerprint" ]; then
    log "Kafka data in .cache/kafka/data has other credentials than .credentials.env: formatting it anew"
    rm -rf "$KAFKA_HOME/data" && mkdir -p "$KAFKA_HOME/data"
  fi
  java "$@" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
    -t "$KAFKA_CLUSTER_ID" -c "$KAFKA_HOME/server.properties" --ignore-formatted \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$KAFKA_ADMIN_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=outbox-relay,password=$KAFKA_OUTBOX_RELAY_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=transaction-service,password=$KAFKA_TRANSACTION_SERVICE_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=money-events-reader,password=$KAFKA_MONEY_EVENTS_READER_PASSWORD]" \
    >"$KAFKA_HOME/format.log" 2>&1 || { cat "$KAFKA_HOME/format.log" >&2; die "formatting Kafka storage failed"; }
  echo "$fingerprint" >"$fingerprint_file"
}

kafka_admin() { KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" KAFKA_ADMIN_PASSWORD="$KAFKA_ADMIN_PASSWORD" node "$ROOT/platform/tools/infra/kafka-setup.mjs" "$@"; }
kafka_ready() { kafka_admin wait "$1"; }

# Exit 0 when the reader's password from .credentials.env logs in, 3 when the broker refuses it.
reader_logs_in() { KAFKA_LOGIN_PASSWORD="$KAFKA_MONEY_EVENTS_READER_PASSWORD" kafka_admin login money-events-reader "${1:-0}"; }

# Sets a SCRAM-SHA-512 password on the running broker (AlterUserScramCredentials, as the admin, with
# kafka's own ConfigCommand from the jars): no restart, no reformat. Both passwords go in files of a
# private folder, not on command lines, which every local user can read (ps).
set_scram_password() { # user password
  local dir status=0
  dir="$(umask 077 && mktemp -d)"
  printf '%s\n' 'security.protocol=SASL_PLAINTEXT' 'sasl.mechanism=SCRAM-SHA-512' \
    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$KAFKA_ADMIN_PASSWORD\";" \
    >"$dir/admin.properties"
  # A file's value is taken as written: no [brackets] around it, unlike --add-config's.
  printf 'SCRAM-SHA-512=password=%s\n' "$2" >"$dir/credential.properties"
  java -Xmx256m "-Dlog4j.configuration=file:$ROOT/platform/tools/infra/kafka/log4j.properties" -cp "$KAFKA_LIBS/*" \
    kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --command-config "$dir/admin.properties" \
    --alter --entity-type users --entity-name "$1" --add-config-file "$dir/credential.properties" >"$dir/output.log" 2>&1 || status=$?
  # Its errors can quote the credential: shown without it.
  [ "$status" -eq 0 ] || grep -v INFO "$dir/output.log" | grep -vF -e "$2" -e "$KAFKA_ADMIN_PASSWORD" | tail -n 5 >&2
  rm -rf "$dir"
  [ "$status" -eq 0 ] || die "setting the SCRAM password of $1 failed"
}

# money-events' read-only principal. A fresh broker has it from the format; one formatted before it
# existed (or with an older password) gets it here, while it runs, which keeps `make infra` a no-op
# on a machine that already has it and never formats other checkouts' data anew for it.
ensure_kafka_reader() {
  local status=0
  reader_logs_in || status=$?
  [ "$status" -eq 0 ] && return
  [ "$status" -eq 3 ] || die "Kafka on 127.0.0.1:$KAFKA_PORT did not answer a login as money-events-reader"
  if [ ! -f "$KAFKA_LIBS/.complete" ]; then
    docker_engine && die "Kafka's SCRAM user money-events-reader is missing: recreate the compose broker (docker compose --env-file .credentials.env up -d --force-recreate kafka)"
    ensure_kafka_jars
  fi
  log "adding Kafka's SCRAM user money-events-reader to the running broker (no restart)"
  set_scram_password money-events-reader "$KAFKA_MONEY_EVENTS_READER_PASSWORD"
  reader_logs_in 15 || die "money-events-reader still cannot log in to Kafka 15 s after its password was set"
}

ensure_kafka() {
  if port_open 127.0.0.1 "$KAFKA_PORT"; then
    log "Kafka is listening on 127.0.0.1:$KAFKA_PORT"
    kafka_ready 30 || die "the Kafka on 127.0.0.1:$KAFKA_PORT refuses this checkout's admin credentials (another checkout's broker?): stop it or set KAFKA_PORT"
  elif docker_engine; then
    compose_up kafka
  else
    ensure_kafka_jars
    write_kafka_config
    command -v java >/dev/null 2>&1 || die "a JDK is needed to run Kafka"
    local java_opts=(-Xms256m -Xmx1g -XX:+UseG1GC "-Dlog4j.configuration=file:$KAFKA_HOME/log4j.properties")
    format_kafka_storage "${java_opts[@]}"
    mkdir -p "$RUN_DIR"
    log "starting Apache Kafka $KAFKA_VERSION (KRaft, single node) on 127.0.0.1:$KAFKA_PORT; log: .cache/kafka/kafka.log"
    nohup java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_HOME/server.properties" \
      >"$KAFKA_HOME/kafka.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/kafka.pid"
  fi
  kafka_ready 90 || { tail -n 40 "$KAFKA_HOME/kafka.log" >&2 2>/dev/null || true; die "Kafka did not become ready"; }
  log "Kafka is ready"
  ensure_kafka_reader
  # The topics are created here, by the admin principal: the services hold no Create permission.
  kafka_admin setup
}

case "${1:-up}" in
  up)
    load_credentials
    ensure_postgres
    ensure_nats
    ensure_kafka
    ;;
  credentials) load_credentials ;;
  kafka-jars) ensure_kafka_jars ;;
  databases) load_credentials && setup_databases ;;
  kafka-up) load_credentials && ensure_kafka ;;
  kafka-down) stop_pid_file kafka "$RUN_DIR/kafka.pid" 30 ;;
  nats-up) load_credentials && ensure_nats ;;
  nats-down) stop_pid_file nats-server "$RUN_DIR/nats.pid" 30 ;;
  down)
    stop_pid_file kafka "$RUN_DIR/kafka.pid" 30
    stop_pid_file nats-server "$RUN_DIR/nats.pid" 30
    if [ -f "$RUN_DIR/compose-services" ]; then
      mapfile -t started_services < <(sort -u "$RUN_DIR/compose-services")
      (cd "$ROOT" && docker compose --env-file "$CREDENTIALS_FILE" stop "${started_services[@]}")
      rm -f "$RUN_DIR/compose-services"
    fi
    ;;
  *) die "usage: $0 up|down|credentials|databases|kafka-jars|kafka-up|kafka-down|nats-up|nats-down" ;;
esac
