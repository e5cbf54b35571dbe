-- The outbox relay works on user-service's database with its own role: it reads unpublished
-- outbox rows (SELECT ... FOR UPDATE SKIP LOCKED) and marks them published (UPDATE). It never
-- inserts or deletes, and it owns nothing, so it cannot alter or drop the schema.

\set ON_ERROR_STOP on
\connect wallet_users

-- Only the owner (user_service, through pg_database_owner) and the relay may use the schema.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO outbox_relay;

-- The outbox table does not exist yet: user-service's migration creates it at its first start.
-- Default privileges apply to every table user_service creates from now on.
ALTER DEFAULT PRIVILEGES FOR ROLE user_service IN SCHEMA public
  GRANT SELECT, UPDATE ON TABLES TO outbox_relay;

\connect wallet_transactions

REVOKE ALL ON SCHEMA public FROM PUBLIC;
