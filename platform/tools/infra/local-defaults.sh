# Sourced by the infrastructure and bench scripts, never run: the repository root and where the local
# infrastructure listens. The same values as platform/runtime/config/local-infrastructure.ts (the
# TypeScript side); platform/tools/checks/compose-file.test.ts fails when the two disagree.
# Each can be overridden from the environment.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
PG_HOST="${PGHOST:-127.0.0.1}"
PG_PORT="${PGPORT:-5432}"
PG_USER="${PGUSER:-postgres}"
# The project's own NATS and Kafka, with authentication, on ports of their own: a machine's default
# NATS (4222) or an older unauthenticated Kafka (9092) is left alone.
NATS_PORT="${NATS_PORT:-4223}"
KAFKA_PORT="${KAFKA_PORT:-9094}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9095}"
