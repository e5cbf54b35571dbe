-- pgbench script: the SQL of the per-transfer design (one transaction per keyed transfer), as
-- transaction-service ran it before group commit (ADR 6): claim the key, lock both rows, one
-- statement for balances + transfer + ledger legs (with their sequence and money events) + stored
-- outcome, one round trip each:
-- BEGIN, 3 statements, COMMIT. It is the baseline `make bench-compare` measures the engine against;
-- the engine's own SQL is db/bench/transfer-batch.sql.
-- Variables (-D): users, hot_permille (share of transfers between users 1 and 2, in 1/1000),
-- max_amount_minor. The funds check and the invariant checks happen in Node, not in SQL.

-- A uniform random pair a != b ...
\set a random(1, :users)
\set b random(1, :users - 1)
\set b CASE WHEN :b >= :a THEN :b + 1 ELSE :b END
-- ... or, hot_permille times in 1000, the hot pair (1, 2) in a random direction.
\set r random(1, 1000)
\set dir random(0, 1)
\set a CASE WHEN :r <= :hot_permille THEN 1 + :dir ELSE :a END
\set b CASE WHEN :r <= :hot_permille THEN 2 - :dir ELSE :b END
\set amount random(1, :max_amount_minor)

BEGIN;

-- claimIdempotencyKey
INSERT INTO idempotency_keys (endpoint, idempotency_key, request_hash)
VALUES ('transfer', gen_random_uuid()::text, encode(sha256(convert_to(random()::text, 'UTF8')), 'hex'))
ON CONFLICT (endpoint, idempotency_key) DO NOTHING
RETURNING idempotency_key AS idem_key \gset

-- lockUsersInOrder
SELECT user_id, balance_minor FROM users
 WHERE user_id IN (bench_user_id(:a), bench_user_id(:b))
 ORDER BY user_id
   FOR UPDATE;

-- applyTransfer: both balances, the transfer row, its two ledger legs and the stored idempotent
-- response in one statement (the response is computed in Node from the locked balances)
WITH moved AS (
  UPDATE users
     SET balance_minor = balance_minor + CASE WHEN user_id = bench_user_id(:a) THEN -(:amount)::bigint ELSE (:amount)::bigint END,
         last_sequence = last_sequence + 1
   WHERE user_id IN (bench_user_id(:a), bench_user_id(:b))
  RETURNING user_id, balance_minor, last_sequence
), transfer AS (
  INSERT INTO transfers (transfer_id, from_user_id, to_user_id, amount_minor, created_at)
  VALUES (bench_uuid_v7(), bench_user_id(:a), bench_user_id(:b), (:amount)::bigint, now())
  RETURNING transfer_id, created_at
), stored AS (
  UPDATE idempotency_keys
     SET response_status = 201,
         response_body = json_build_object(
           'transfer_id', bench_uuid_v7(), 'from_user_id', bench_user_id(:a), 'to_user_id', bench_user_id(:b),
           'amount', (:amount)::bigint, 'updated_balance', (:amount)::bigint, 'created_at', now())
   WHERE endpoint = 'transfer' AND idempotency_key = :idem_key
), legs AS (
  INSERT INTO transactions
    (id, user_id, type, kind, amount_minor, balance_after_minor, available_after_minor, transfer_id, counterparty_user_id, created_at, sequence)
  SELECT leg.id, moved.user_id, leg.type, 'transfer', (:amount)::bigint, moved.balance_minor, moved.balance_minor,
         transfer.transfer_id, leg.counterparty, transfer.created_at, moved.last_sequence
    FROM moved
    JOIN (VALUES (bench_uuid_v7(), bench_user_id(:a), 'debit', bench_user_id(:b)),
                 (bench_uuid_v7(), bench_user_id(:b), 'credit', bench_user_id(:a))) AS leg(id, user_id, type, counterparty)
      ON leg.user_id = moved.user_id
   CROSS JOIN transfer
  RETURNING seq, type, balance_after_minor, created_at
)
-- Each leg's money event waits in the outbox, as the engine writes it (ADR 10): the same work per transfer.
INSERT INTO money_events_pending (entry_seq)
SELECT seq FROM legs
RETURNING entry_seq;

COMMIT;
