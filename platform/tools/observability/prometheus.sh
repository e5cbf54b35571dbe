#!/usr/bin/env bash
# The native Prometheus (`make observe`; `make up` without Docker starts it too; `make down` stops it):
# the machine's own prometheus binary (Debian's package, installed by .ci/run like nats-server) with
# this directory's prometheus.yml and alerts.yml, bound to 127.0.0.1:$PROMETHEUS_PORT (9090), data
# in .run/prometheus/data, log .run/prometheus.log, pid .run/prometheus.pid.
#   prometheus.sh start    start it unless ours already runs, then wait until it is ready
#   prometheus.sh stop     stop what `start` started, by its pid file
#   prometheus.sh status
set -euo pipefail
# ROOT; log, die, RUN_DIR, port_open, pid_file_alive, stop_pid_file
source "$(dirname "${BASH_SOURCE[0]}")/../infra/script-lib.sh" prometheus
HERE="$ROOT/platform/tools/observability"
WORK_DIR="$RUN_DIR/prometheus"
PID_FILE="$RUN_DIR/prometheus.pid"
PORT="${PROMETHEUS_PORT:-9090}"
URL="http://127.0.0.1:$PORT"

ours_running() { pid_file_alive "$PID_FILE"; }

# The repo's config with the ports run.sh uses (USER_SERVICE_PORT, TRANSACTION_SERVICE_PORT), beside
# a copy of the rules: Prometheus resolves rule_files relative to its config file.
render_config() {
  mkdir -p "$WORK_DIR/data"
  cp "$HERE/alerts.yml" "$WORK_DIR/alerts.yml"
  sed -e "s#'127.0.0.1:3001'#'127.0.0.1:${USER_SERVICE_PORT:-3001}'#" \
      -e "s#'127.0.0.1:3002'#'127.0.0.1:${TRANSACTION_SERVICE_PORT:-3002}'#" \
      "$HERE/prometheus.yml" >"$WORK_DIR/prometheus.yml"
}

start() {
  if ours_running; then log "already runs (pid $(cat "$PID_FILE")): $URL"; return; fi
  command -v prometheus >/dev/null 2>&1 || die "no prometheus binary here: apt-get install prometheus (Debian's package; .ci/run installs it)"
  port_open 127.0.0.1 "$PORT" && die "something else listens on 127.0.0.1:$PORT: stop it or set PROMETHEUS_PORT"
  render_config
  log "starting on $URL (log: .run/prometheus.log)"
  nohup prometheus --config.file="$WORK_DIR/prometheus.yml" --storage.tsdb.path="$WORK_DIR/data" \
    --storage.tsdb.retention.time=7d --web.listen-address="127.0.0.1:$PORT" \
    >>"$RUN_DIR/prometheus.log" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local i
  for ((i = 0; i < 300; i++)); do
    # Debian's package serves the classic UI only (/classic/...); upstream's serves /targets, /alerts.
    curl -fsS "$URL/-/ready" >/dev/null 2>&1 && { log "ready: $URL/classic/targets  $URL/classic/alerts"; return; }
    ours_running || die "it exited; see .run/prometheus.log"
    sleep 0.1
  done
  die "not ready within 30 s; see .run/prometheus.log"
}

case "${1:-start}" in
  start) start ;;
  stop) stop_pid_file prometheus "$PID_FILE" 20 ;;
  status) if ours_running; then echo "prometheus: running (pid $(cat "$PID_FILE")) $URL"; else echo "prometheus: stopped"; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
