/**
 * Seeds a transaction-service database with a large ledger in a few set-based statements, in the
 * engine's own write shape: per user an opening credit, then transfers (a transfer row and its two
 * legs), each user's rows numbered 1, 2, 3, ... in applied order with balance_after chained and times
 * never going back (ADR 10, ADR 11), and users' balance_minor, last_sequence and last_entry_at as
 * the batch leaves them. Seeded rows are history: they are not queued for publishing (like the rows
 * migration 005 numbered).
 *
 * `make seed-ledger` seeds SEED_DATABASE_URL (a migrated transaction-service database; the owner's
 * login: the service's may not write all of it) with SEED_USERS users and SEED_ROWS ledger rows.
 */
import type { Knex } from '@wallet/platform';
import { createKnex } from '@wallet/platform';

export interface SeedOptions {
  users: number;
  /** Ledger rows in all (one opening credit per user, the rest transfer legs). */
  rows: number;
  /** The ledger's times span the `days` before now, ending an hour ago. */
  days: number;
}

/** Every user's opening credit: large enough that no seeded transfer is refused. */
const OPENING_MINOR = 100_000_000;

/** One transaction (one connection: the temporary tables live in its session), committed at the end. */
export async function seedLedger(knex: Knex, options: SeedOptions): Promise<{ userIds: string[]; startMs: number; endMs: number }> {
  return knex.transaction((trx) => seedInTransaction(trx, options));
}

async function seedInTransaction(db: Knex.Transaction, options: SeedOptions): Promise<{ userIds: string[]; startMs: number; endMs: number }> {
  const transfers = Math.floor((options.rows - options.users) / 2);
  const endMs = Date.now() - 3_600_000;
  const startMs = endMs - options.days * 86_400_000;
  const bindings = { users: options.users, transfers, startMs, stepMs: (endMs - startMs) / Math.max(1, transfers), opening: OPENING_MINOR };
  await db.raw('CREATE TEMP TABLE seed_users AS SELECT n, gen_random_uuid() AS user_id FROM generate_series(0, :users - 1) AS n', bindings);
  await db.raw(
    `CREATE TEMP TABLE seed_transfers AS
       SELECT t, gen_random_uuid() AS transfer_id, f, (f + 1 + (t * 31) % (:users - 1)) % :users AS o,
              1 + (t * 104729) % 10000 AS amount,
              date_trunc('milliseconds', to_timestamp(:startMs::bigint / 1000.0) + t * (:stepMs)::float8 * interval '1 millisecond') AS at
         FROM (SELECT t, (t * 7919) % :users AS f FROM generate_series(1::bigint, :transfers) AS t) x`,
    bindings,
  );
  await db.raw(`INSERT INTO users (user_id, created_at) SELECT user_id, to_timestamp(:startMs::bigint / 1000.0) - interval '1 day' FROM seed_users`, bindings);
  await db.raw(
    `INSERT INTO transfers (transfer_id, from_user_id, to_user_id, amount_minor, created_at)
     SELECT s.transfer_id, fu.user_id, tu.user_id, s.amount, s.at
       FROM seed_transfers s JOIN seed_users fu ON fu.n = s.f JOIN seed_users tu ON tu.n = s.o`,
    bindings,
  );
  await db.raw(
    `INSERT INTO transactions (id, user_id, type, kind, amount_minor, balance_after_minor, transfer_id, counterparty_user_id, created_at, sequence)
     SELECT gen_random_uuid(), user_id, type, kind, amount, sum(signed) OVER w, transfer_id, counterparty, at, row_number() OVER w
       FROM (SELECT user_id, 'credit' AS type, 'add_money' AS kind, :opening::bigint AS amount, :opening::bigint AS signed,
                    NULL::uuid AS transfer_id, NULL::uuid AS counterparty, to_timestamp(:startMs::bigint / 1000.0) - interval '1 hour' AS at, 0 AS t, 0 AS leg
               FROM seed_users
             UNION ALL
             SELECT fu.user_id, 'debit', 'transfer', s.amount, -s.amount, s.transfer_id, tu.user_id, s.at, s.t, 1
               FROM seed_transfers s JOIN seed_users fu ON fu.n = s.f JOIN seed_users tu ON tu.n = s.o
             UNION ALL
             SELECT tu.user_id, 'credit', 'transfer', s.amount, s.amount, s.transfer_id, fu.user_id, s.at, s.t, 2
               FROM seed_transfers s JOIN seed_users fu ON fu.n = s.f JOIN seed_users tu ON tu.n = s.o) legs
     WINDOW w AS (PARTITION BY user_id ORDER BY at, t, leg ROWS UNBOUNDED PRECEDING)`,
    bindings,
  );
  await db.raw(
    `UPDATE users u SET balance_minor = l.balance_after_minor, last_sequence = l.sequence, last_entry_at = l.created_at
       FROM (SELECT DISTINCT ON (user_id) user_id, balance_after_minor, sequence, created_at
               FROM transactions ORDER BY user_id, sequence DESC) l
      WHERE u.user_id = l.user_id`,
  );
  for (const table of ['users', 'transactions', 'transfers']) await db.raw(`ANALYZE ${table}`);
  const ids = await db.raw<{ rows: Array<{ user_id: string }> }>('SELECT user_id FROM seed_users ORDER BY n');
  await db.raw('DROP TABLE seed_users, seed_transfers');
  return { userIds: ids.rows.map((r) => r.user_id), startMs, endMs };
}

async function main(): Promise<void> {
  const url = process.env.SEED_DATABASE_URL;
  if (!url) throw new Error('SEED_DATABASE_URL is required: a migrated transaction-service database, as its owner');
  const db = createKnex({ url, poolMax: 1, applicationName: 'seed-ledger' });
  try {
    const options = { users: Number(process.env.SEED_USERS ?? 10_000), rows: Number(process.env.SEED_ROWS ?? 1_000_000), days: 30 };
    const started = performance.now();
    await seedLedger(db, options);
    process.stdout.write(`seeded ${options.rows} ledger rows over ${options.users} users in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    await db.destroy();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
