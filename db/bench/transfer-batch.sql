-- pgbench script: the SQL of ONE group-commit batch of :batch keyed transfers, statement by
-- statement as transaction-service's money engine sends them (domain/transfers/apply-money-batch.ts,
-- data-access/money-batch-repository.ts): BEGIN, key claim, ordered row locks, the one set-based
-- write (with the batch's marker row, the evidence that settles a lost COMMIT reply, and its money
-- events' outbox rows with their NOTIFY), COMMIT. transfers/s = tps x :batch. transaction-service/test/bench-sql.test.ts fails when
-- this script and that SQL drift apart (tables, columns, conflict target, lock order, CTEs, results).
-- Variables (-D): users, batch, hot_permille, max_amount_minor.
-- What Node does in the engine (deciding each transfer, running balances, response bodies) is not
-- here: the first statement only draws the batch's pairs, ids and keys, and balance_after is the
-- amount (a placeholder of the same type and width), so this is the database's share alone.

SELECT array_agg(a ORDER BY i)::text AS froms, array_agg(b ORDER BY i)::text AS tos,
       array_agg(amount ORDER BY i)::text AS amounts, array_agg(tid ORDER BY i)::text AS tids,
       array_agg(k ORDER BY i)::text AS idem_keys
  FROM (
    SELECT i, bench_user_id(pa) AS a, bench_user_id(pb) AS b, amount, bench_uuid_v7() AS tid,
           gen_random_uuid()::text AS k
      FROM (
        SELECT i, amount,
               CASE WHEN hot THEN 1 + dir ELSE x END AS pa,
               CASE WHEN hot THEN 2 - dir ELSE 1 + (x + y) % :users END AS pb
          FROM (
            SELECT i, random() * 1000 < :hot_permille AS hot, (random() < 0.5)::int AS dir,
                   1 + floor(random() * :users)::int AS x, floor(random() * (:users - 1))::int AS y,
                   1 + floor(random() * :max_amount_minor)::bigint AS amount
              FROM generate_series(1, :batch) AS i
          ) r
      ) p
  ) t \gset

BEGIN;

INSERT INTO idempotency_keys (endpoint, idempotency_key, request_hash)
SELECT 'transfer', k, md5(k) FROM unnest(:idem_keys::text[]) AS k
 ORDER BY 1, 2
ON CONFLICT (endpoint, idempotency_key) DO NOTHING
RETURNING endpoint, idempotency_key;

SELECT user_id, balance_minor, held_minor, last_sequence, last_entry_at FROM users
 WHERE user_id = ANY(:froms::uuid[] || :tos::uuid[])
 ORDER BY user_id
   FOR NO KEY UPDATE;

WITH moved AS (
  UPDATE users u SET balance_minor = u.balance_minor + c.delta, held_minor = u.held_minor + 0, last_sequence = u.last_sequence + c.legs,
                     last_entry_at = now()
    FROM (SELECT user_id, sum(delta)::bigint AS delta, count(*) AS legs
            FROM (SELECT unnest(:froms::uuid[]) AS user_id, -unnest(:amounts::bigint[]) AS delta
                  UNION ALL
                  SELECT unnest(:tos::uuid[]), unnest(:amounts::bigint[])) d
           GROUP BY user_id) c
   WHERE u.user_id = c.user_id
  RETURNING u.user_id, u.balance_minor
), new_holds AS (
  -- Plain transfers make and resolve no hold: the engine sends these two with empty arrays.
  INSERT INTO holds (hold_id, from_user_id, to_user_id, amount_minor, status, captured_amount_minor, transfer_id,
                     expires_at, created_at, resolved_at)
  SELECT * FROM unnest(ARRAY[]::uuid[], ARRAY[]::uuid[], ARRAY[]::uuid[], ARRAY[]::bigint[], ARRAY[]::text[], ARRAY[]::bigint[],
                       ARRAY[]::uuid[], ARRAY[]::timestamptz[], ARRAY[]::timestamptz[], ARRAY[]::timestamptz[])
  RETURNING 1
), resolved_holds AS (
  UPDATE holds h SET status = r.status, captured_amount_minor = r.captured, transfer_id = r.transfer_id, resolved_at = r.resolved_at
    FROM unnest(ARRAY[]::uuid[], ARRAY[]::text[], ARRAY[]::bigint[], ARRAY[]::uuid[], ARRAY[]::timestamptz[])
         AS r(hold_id, status, captured, transfer_id, resolved_at)
   WHERE h.hold_id = r.hold_id AND h.status = 'held'
  RETURNING 1
), new_transfers AS (
  INSERT INTO transfers (transfer_id, from_user_id, to_user_id, amount_minor, created_at)
  SELECT t, f, o, a, now() FROM unnest(:tids::uuid[], :froms::uuid[], :tos::uuid[], :amounts::bigint[]) AS x(t, f, o, a)
  RETURNING 1
), new_legs AS (
  INSERT INTO transactions
    (id, user_id, type, kind, amount_minor, balance_after_minor, available_after_minor, transfer_id, hold_id,
     counterparty_user_id, created_at, sequence)
  SELECT bench_uuid_v7(), l.user_id, l.type, 'transfer', x.amount, x.amount, x.amount, x.tid, NULL::uuid, l.counterparty, now(),
         s.last_sequence + row_number() OVER (PARTITION BY l.user_id ORDER BY x.n, l.leg)
    FROM unnest(:tids::uuid[], :froms::uuid[], :tos::uuid[], :amounts::bigint[]) WITH ORDINALITY AS x(tid, f, o, amount, n)
   CROSS JOIN LATERAL (VALUES (x.f, 'debit', x.o, 1), (x.o, 'credit', x.f, 2)) AS l(user_id, type, counterparty, leg)
   JOIN users s ON s.user_id = l.user_id
   ORDER BY x.n, l.leg
  RETURNING seq
), new_events AS (
  INSERT INTO money_events_pending (entry_seq)
  SELECT seq FROM new_legs
  RETURNING 1
), stored AS (
  UPDATE idempotency_keys k SET response_status = 201,
         response_body = json_build_object('transfer_id', s.tid, 'amount', '0.00', 'updated_balance', '0.00', 'created_at', now()),
         outcome_code = 'ok'
    FROM unnest(:idem_keys::text[], :tids::uuid[], array_fill('transfer'::text, ARRAY[(:batch)::int])) AS s(idempotency_key, tid, endpoint)
   WHERE k.endpoint = s.endpoint AND k.idempotency_key = s.idempotency_key
  RETURNING 1
), released AS (
  DELETE FROM idempotency_keys k
   USING unnest(ARRAY[]::text[], ARRAY[]::text[]) AS r(endpoint, idempotency_key)
   WHERE k.endpoint = r.endpoint AND k.idempotency_key = r.idempotency_key AND k.response_status IS NULL
  RETURNING 1
), marker AS (
  INSERT INTO money_batches (batch_id) VALUES (bench_uuid_v7())
  RETURNING 1
)
SELECT pg_backend_pid() AS pid, pg_current_xact_id()::text AS xid,
       (SELECT count(*) FROM released) AS released, (SELECT count(*) FROM marker) AS marked,
       (SELECT count(*) FROM new_transfers) AS transfers,
       (SELECT count(*) FROM new_holds) + (SELECT count(*) FROM resolved_holds) AS holds, (SELECT count(*) FROM new_legs) AS legs,
       (SELECT count(*) FROM new_events) AS events,
       (SELECT count(*) FROM (SELECT pg_notify('wallet_money_events', '') FROM new_events LIMIT 1) n) AS notified,
       (SELECT count(*) FROM stored) AS stored,
       (SELECT array_agg(user_id) FROM moved) AS user_ids, (SELECT array_agg(balance_minor::text) FROM moved) AS balances;

COMMIT;
