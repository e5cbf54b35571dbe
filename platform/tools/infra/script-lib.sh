# Sourced by the shell tools, never run: local-defaults.sh (the root and the local addresses), then
# the helpers every one of them needs (log lines tagged with the tool's name, the .run directory, a
# port probe, stopping what a pid file names), spelled once. Source it with the tool's name:
#   source "$(dirname "${BASH_SOURCE[0]}")/script-lib.sh" infra
source "$(dirname "${BASH_SOURCE[0]}")/local-defaults.sh"
SCRIPT_TAG="${1:?source script-lib.sh with the tool name that tags its log lines}"
# Pid files, logs and results of the native runs (git-ignored).
RUN_DIR="$ROOT/.run"

log() { printf '[%s] %s\n' "$SCRIPT_TAG" "$*"; }
die() { printf '[%s] error: %s\n' "$SCRIPT_TAG" "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; } # host port

# Whether the process a pid file names still runs.
pid_file_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; } # file

# Stops the process a pid file names (SIGTERM, then SIGKILL when it is still there after `seconds`),
# then removes the file; never anything by process name.
stop_pid_file() { # name file seconds
  local name="$1" file="$2" seconds="$3" pid i
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid"
    for ((i = 0; i < seconds * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop in $seconds s: killing"
      kill -9 "$pid"
    fi
    log "stopped $name"
  fi
  rm -f "$file"
}
