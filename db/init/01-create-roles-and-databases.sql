-- Roles and databases, as the superuser. Run by the postgres container once, when its data volume
-- is empty (docker-entrypoint-initdb.d), and by `make infra` natively on every start: every
-- statement is idempotent, and re-running it resets each role's attributes and password (rotation).
-- Per database, one owner role runs the migrations; each process logs in with its own role,
-- which owns nothing and gets only the DML it needs from the migrations (see db/README.md).
-- Passwords come from the environment (psql 15's \getenv), never from this file.

\set ON_ERROR_STOP on

\getenv wallet_users_owner_password WALLET_USERS_OWNER_DB_PASSWORD
\getenv wallet_transactions_owner_password WALLET_TRANSACTIONS_OWNER_DB_PASSWORD
\getenv user_service_password USER_SERVICE_DB_PASSWORD
\getenv transaction_service_password TRANSACTION_SERVICE_DB_PASSWORD
\getenv outbox_relay_password OUTBOX_RELAY_DB_PASSWORD

-- A missing password must stop the initialisation, not create a role nobody can log in as.
-- :{?name} is psql's "is the variable set" (TRUE/FALSE); each unset one runs a RAISE naming it.
SELECT format('DO $$ BEGIN RAISE EXCEPTION %L; END $$', variable || ' is not set')
  FROM (VALUES ('WALLET_USERS_OWNER_DB_PASSWORD', :{?wallet_users_owner_password}),
               ('WALLET_TRANSACTIONS_OWNER_DB_PASSWORD', :{?wallet_transactions_owner_password}),
               ('USER_SERVICE_DB_PASSWORD', :{?user_service_password}),
               ('TRANSACTION_SERVICE_DB_PASSWORD', :{?transaction_service_password}),
               ('OUTBOX_RELAY_DB_PASSWORD', :{?outbox_relay_password})) AS password (variable, is_set)
 WHERE NOT is_set
\gexec

-- Roles are cluster-wide: create the missing ones (a concurrent creator is harmless), then set
-- every attribute explicitly. No role can create databases or roles, or bypass row security.
-- (\gexec runs each row's statements left to right and skips a NULL: the CREATE of a role that exists.)
SELECT CASE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) THEN format('CREATE ROLE %I', name) END,
       format('ALTER ROLE %I NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', name)
  FROM unnest(ARRAY['wallet_users_owner', 'wallet_transactions_owner', 'user_service', 'transaction_service', 'outbox_relay']) AS name
\gexec
ALTER ROLE wallet_users_owner LOGIN PASSWORD :'wallet_users_owner_password';
ALTER ROLE wallet_transactions_owner LOGIN PASSWORD :'wallet_transactions_owner_password';
ALTER ROLE user_service LOGIN PASSWORD :'user_service_password';
ALTER ROLE transaction_service LOGIN PASSWORD :'transaction_service_password';
ALTER ROLE outbox_relay LOGIN PASSWORD :'outbox_relay_password';

-- Each database belongs to its owner role, so the migrations can create tables in public
-- (PostgreSQL 15 gives that schema to the database owner and no longer lets PUBLIC create in it).
SELECT 'CREATE DATABASE wallet_users OWNER wallet_users_owner'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'wallet_users')
\gexec
SELECT 'CREATE DATABASE wallet_transactions OWNER wallet_transactions_owner'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'wallet_transactions')
\gexec
-- A database made by an older setup (natively: by `postgres`) changes hands too.
ALTER DATABASE wallet_users OWNER TO wallet_users_owner;
ALTER DATABASE wallet_transactions OWNER TO wallet_transactions_owner;

-- Without this every role may connect to every database: the services would not be isolated.
REVOKE ALL ON DATABASE wallet_users FROM PUBLIC;
REVOKE ALL ON DATABASE wallet_transactions FROM PUBLIC;
GRANT CONNECT ON DATABASE wallet_users TO wallet_users_owner, user_service, outbox_relay;
-- The relay also publishes transaction-service's money events (ADR 10): its own DML-only grants there.
GRANT CONNECT ON DATABASE wallet_transactions TO wallet_transactions_owner, transaction_service, outbox_relay;
