-- Runs once, as the superuser, when the postgres container starts with an empty data volume
-- (docker-entrypoint-initdb.d). One login role per process, each reaching only its own database;
-- the services' tables are created later by their own migrations, run as these roles.
-- Passwords come from the container's environment (psql 15's \getenv), never from this file.

\set ON_ERROR_STOP on

\getenv user_service_password USER_SERVICE_DB_PASSWORD
\getenv transaction_service_password TRANSACTION_SERVICE_DB_PASSWORD
\getenv outbox_relay_password OUTBOX_RELAY_DB_PASSWORD

-- A missing password must stop the initialisation, not create a role nobody can log in as.
\if :{?user_service_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'USER_SERVICE_DB_PASSWORD is not set'; END $$;
\endif
\if :{?transaction_service_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'TRANSACTION_SERVICE_DB_PASSWORD is not set'; END $$;
\endif
\if :{?outbox_relay_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'OUTBOX_RELAY_DB_PASSWORD is not set'; END $$;
\endif

-- No role can create databases or roles, or bypass row security: each may only use what it is given.
CREATE ROLE user_service LOGIN PASSWORD :'user_service_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE ROLE transaction_service LOGIN PASSWORD :'transaction_service_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE ROLE outbox_relay LOGIN PASSWORD :'outbox_relay_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

-- Each service owns its database, so its migrations can create tables in the public schema
-- (PostgreSQL 15 gives that schema to the database owner and no longer lets PUBLIC create in it).
CREATE DATABASE wallet_users OWNER user_service;
CREATE DATABASE wallet_transactions OWNER transaction_service;

-- Without this every role may connect to every database: the services would not be isolated.
REVOKE ALL ON DATABASE wallet_users FROM PUBLIC;
REVOKE ALL ON DATABASE wallet_transactions FROM PUBLIC;
GRANT CONNECT ON DATABASE wallet_users TO user_service, outbox_relay;
GRANT CONNECT ON DATABASE wallet_transactions TO transaction_service;
