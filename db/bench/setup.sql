-- Scratch database for `make bench-db` (platform/tools/infra/bench-db.sh), applied AFTER
-- transaction-service's real migrations. Variables (psql -v): users, balance_minor.
\set ON_ERROR_STOP on

-- User n has a fixed, readable id, so pgbench (which only has integers) can name any user.
CREATE FUNCTION bench_user_id(n integer) RETURNS uuid
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid $$;

-- A version-7 (time-ordered) UUID, like the uuid v7 ids transaction-service generates: new rows
-- land at the right edge of the primary-key indexes instead of at random pages.
CREATE FUNCTION bench_uuid_v7() RETURNS uuid
  LANGUAGE sql VOLATILE PARALLEL SAFE
  AS $$
    SELECT encode(
      set_bit(set_bit(
        overlay(uuid_send(gen_random_uuid())
                PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                FROM 1 FOR 6),
        52, 1), 53, 1),
      'hex')::uuid
  $$;

INSERT INTO users (user_id, balance_minor, created_at)
SELECT bench_user_id(n), :balance_minor, now()
  FROM generate_series(1, :users) AS n;

ANALYZE;
