#!/usr/bin/env bash
# docker-compose.yml's kafka service starts here (mounted read-only into apache/kafka), then hands over
# to the image's own start script. Two things that image cannot do from its environment alone:
#  1. bootstrap the SCRAM users into the KRaft metadata when the storage is formatted (as
#     platform/tools/infra/infra.sh does natively); the image's own format step then finds it formatted.
#     The storage lives in the container, and a new password variable changes the service, so compose
#     recreates the broker and every user (money-events-reader too) is there from the format;
#  2. write the admin's client settings the healthcheck logs in with (/tmp/admin-client.properties).
# Passwords come from the environment (compose interpolates them from .credentials.env).
set -euo pipefail
: "${KAFKA_ADMIN_PASSWORD:?}" "${KAFKA_OUTBOX_RELAY_PASSWORD:?}" "${KAFKA_TRANSACTION_SERVICE_PASSWORD:?}" "${KAFKA_MONEY_EVENTS_READER_PASSWORD:?}"
KAFKA_STORAGE="${KAFKA_STORAGE:-/opt/kafka/bin/kafka-storage.sh}"
FORMAT_PROPERTIES="$(mktemp)"
cat >"$FORMAT_PROPERTIES" <<PROPERTIES
process.roles=${KAFKA_PROCESS_ROLES}
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=${KAFKA_CONTROLLER_QUORUM_VOTERS}
listeners=${KAFKA_LISTENERS}
advertised.listeners=${KAFKA_ADVERTISED_LISTENERS}
listener.security.protocol.map=${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP}
controller.listener.names=${KAFKA_CONTROLLER_LISTENER_NAMES}
inter.broker.listener.name=${KAFKA_INTER_BROKER_LISTENER_NAME}
sasl.enabled.mechanisms=${KAFKA_SASL_ENABLED_MECHANISMS}
sasl.mechanism.inter.broker.protocol=${KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL}
sasl.mechanism.controller.protocol=${KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL}
log.dirs=${KAFKA_LOG_DIRS}
PROPERTIES
# shellcheck disable=SC2086
$KAFKA_STORAGE format -t "${CLUSTER_ID}" -c "$FORMAT_PROPERTIES" --ignore-formatted \
  --add-scram "SCRAM-SHA-512=[name=admin,password=${KAFKA_ADMIN_PASSWORD}]" \
  --add-scram "SCRAM-SHA-512=[name=outbox-relay,password=${KAFKA_OUTBOX_RELAY_PASSWORD}]" \
  --add-scram "SCRAM-SHA-512=[name=transaction-service,password=${KAFKA_TRANSACTION_SERVICE_PASSWORD}]" \
  --add-scram "SCRAM-SHA-512=[name=money-events-reader,password=${KAFKA_MONEY_EVENTS_READER_PASSWORD}]"
rm -f "$FORMAT_PROPERTIES"

(umask 077 && cat >/tmp/admin-client.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
PROPERTIES
)
# The admin password is a broker setting (the inter-broker login), not something the image needs in its env.
unset KAFKA_ADMIN_PASSWORD KAFKA_OUTBOX_RELAY_PASSWORD KAFKA_TRANSACTION_SERVICE_PASSWORD KAFKA_MONEY_EVENTS_READER_PASSWORD
exec /etc/kafka/docker/run
