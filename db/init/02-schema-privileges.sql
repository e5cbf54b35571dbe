-- Inside each database, as the superuser: who may use the public schema, and every object there
-- owned by the database's owner role. Idempotent, like 01 (natively it runs on every `make infra`).
-- Table privileges are granted by the services' own migrations, next to the tables they are about.

\set ON_ERROR_STOP on

\connect wallet_users
-- The owner creates (PostgreSQL 15: through pg_database_owner); the service roles may only use it.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO user_service, outbox_relay;
SELECT set_config('wallet.owner', 'wallet_users_owner', false) \g /dev/null
\ir give-public-schema-to-owner.psql

\connect wallet_transactions
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO transaction_service, outbox_relay;
SELECT set_config('wallet.owner', 'wallet_transactions_owner', false) \g /dev/null
\ir give-public-schema-to-owner.psql
